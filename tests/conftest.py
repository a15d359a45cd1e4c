"""Session fixtures: one real local stack (PostgreSQL, Kafka, Kafka Connect + Debezium) per test session,
on its own ports and data directory, started by the same code as `aladia up`.

There is no skip path: if the stack cannot start, every test that needs it errors (CI=true or not).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import artifact_cache, settings_env

# Ports of the session stack: away from the defaults (a developer's `aladia up` stack is never touched) and
# below the ephemeral range (32768+), where a client socket could hold the port by chance.
PORTS = {"pg": 25432, "kafka": 29092, "controller": 29093, "connect": 28083}


_ORDER = {"unit": 0, "integration": 1, "e2e": 2}


def _kind(item: pytest.Item) -> str:
    parts = Path(str(item.fspath)).parts
    return next((p for p in parts if p in _ORDER), "unit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark integration/e2e tests, and run fast tests first: unit, then integration, then e2e."""
    for item in items:
        kind = _kind(item)
        if kind != "unit":
            item.add_marker(getattr(pytest.mark, kind))
    items.sort(key=lambda item: _ORDER[_kind(item)])


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """ALADIA_* variables pointing at the session stack."""
    base = Path(tempfile.mkdtemp(prefix="aladia-test-", dir="/tmp"))
    base.chmod(0o755)  # the PostgreSQL server runs as an unprivileged user when tests run as root
    env = settings_env(
        base / "data", artifact_cache(), PORTS["pg"], PORTS["kafka"], PORTS["controller"], PORTS["connect"]
    )
    yield env
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_settings(stack_env):
    from aladia_etl.core.settings import Settings

    overrides = {
        "data_dir": stack_env["ALADIA_DATA_DIR"],
        "cache_dir": stack_env["ALADIA_CACHE_DIR"],
        "postgres": {"port": PORTS["pg"]},
        "kafka": {
            "bootstrap_servers": stack_env["ALADIA_KAFKA__BOOTSTRAP_SERVERS"],
            "controller_port": PORTS["controller"],
        },
        "connect": {"url": stack_env["ALADIA_CONNECT__URL"]},
        "cdc": {"heartbeat_interval_ms": int(stack_env["ALADIA_CDC__HEARTBEAT_INTERVAL_MS"])},
    }
    return Settings(_env_file=None, **overrides)


@pytest.fixture(scope="session")
def stack(stack_settings):
    """The running local stack; stopped and purged at the end of the session."""
    from aladia_etl.stack.local import LocalStack

    local = LocalStack(stack_settings)
    local.up(timeout=240)
    yield local
    local.down(purge=True)


@pytest.fixture(scope="session")
def pipeline(stack, stack_settings):
    """Source schema seeded and the Debezium connector RUNNING (once per session)."""
    from aladia_etl.cdc.service import register
    from aladia_etl.source.bootstrap import bootstrap
    from aladia_etl.source.seed import SeedSpec

    bootstrap(stack_settings, SeedSpec(customers=60, products=25, orders=300, rng_seed=7))
    register(stack_settings, timeout=120)
    return stack_settings


@pytest.fixture
def scratch_warehouse(stack, stack_settings):
    """An empty warehouse database of its own (schema created): (settings pointing at it, autocommit conn)."""
    from aladia_etl.warehouse import loader
    from aladia_etl.warehouse.schema import ensure_schema
    from tests.helpers import fresh_database

    with fresh_database(stack_settings, "wh_scratch_test") as name:
        postgres = stack_settings.postgres.model_copy(update={"warehouse_db": name})
        settings = stack_settings.model_copy(update={"postgres": postgres})
        with loader.connect(settings) as conn:
            ensure_schema(conn)
            yield settings, conn
