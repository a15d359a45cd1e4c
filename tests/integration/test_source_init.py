"""`aladia init`: idempotent schema and seed; the wal_level check and --fix on a real server."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from aladia_etl.core.errors import ExitCode
from aladia_etl.source import schema
from tests.helpers import run_cli


def _counts(settings) -> dict[str, int]:
    with psycopg.connect(**settings.postgres.conninfo()) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in schema.CAPTURED_TABLES}


def test_init_twice_changes_nothing(pipeline, stack_env):
    before = _counts(pipeline)
    result = run_cli(["init", "--json"], stack_env)
    assert result.code == 0, result.output
    assert json.loads(result.stdout) == {
        "changed": False,
        "created": [],
        "seeded": {},
        "wal_level_fixed": False,
        "reset": False,
    }
    human = run_cli(["init"], stack_env)
    assert human.code == 0 and "nothing changed" in human.stderr
    assert _counts(pipeline) == before


def test_schema_is_ready_for_cdc(pipeline):
    with psycopg.connect(**pipeline.postgres.conninfo()) as conn:
        identities = dict(
            conn.execute(
                "SELECT relname, relreplident FROM pg_class WHERE relname = ANY(%s)",
                ([*schema.CAPTURED_TABLES, schema.HEARTBEAT_TABLE],),
            ).fetchall()
        )
        published = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (pipeline.cdc.publication,)
            )
        }
        conn.execute("UPDATE customers SET name = name WHERE id = 1")
        before, after = conn.execute("SELECT created_at, updated_at FROM customers WHERE id = 1").fetchone()
    assert set(identities.values()) == {"f"}
    assert published == {*schema.CAPTURED_TABLES, *schema.OWN_SOURCE_TABLES}
    assert after > before  # updated_at maintained on update


def test_seed_is_deterministic():
    from aladia_etl.source.seed import SeedSpec, generate

    a = generate(SeedSpec(customers=5, products=5, orders=20, rng_seed=3))
    b = generate(SeedSpec(customers=5, products=5, orders=20, rng_seed=3))
    c = generate(SeedSpec(customers=5, products=5, orders=20, rng_seed=4))
    assert a["orders"] != c["orders"]
    assert [r[:3] for r in a["orders"]] == [r[:3] for r in b["orders"]]


@pytest.fixture
def replica_server(stack_settings):
    """A second real PostgreSQL, started by the same code, with wal_level = replica."""
    from aladia_etl.core.settings import Settings
    from aladia_etl.stack.postgres import LocalPostgres

    base = Path(tempfile.mkdtemp(prefix="aladia-replica-", dir="/tmp"))
    base.chmod(0o755)
    settings = Settings(_env_file=None, data_dir=base / "data", postgres={"port": 25499})
    server = LocalPostgres(settings, server_settings={"wal_level": "replica"})
    server.start()
    server.wait_ready(60)
    server.ensure_databases()
    env = {"ALADIA_DATA_DIR": str(base / "data"), "ALADIA_POSTGRES__PORT": "25499"}
    yield settings, env
    server.stop()
    server.purge()
    shutil.rmtree(base, ignore_errors=True)  # this fixture's own mkdtemp, emptied by the purge


def test_wal_level_replica_gives_the_exact_fix(replica_server):
    _, env = replica_server
    result = run_cli(["init"], env)
    assert result.code == ExitCode.CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "wal_level = replica" in lines[0]
    assert "ALTER SYSTEM SET wal_level = logical" in lines[0]
    assert "Traceback" not in result.output


def test_init_fix_sets_logical_and_restarts_the_local_server(replica_server):
    settings, env = replica_server
    result = run_cli(["init", "--fix", "--json", "--customers", "3", "--products", "2", "--orders", "4"], env)
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert data["wal_level_fixed"] is True
    assert data["seeded"]["orders"] == 4
    with psycopg.connect(**settings.postgres.conninfo("postgres")) as conn:
        assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
