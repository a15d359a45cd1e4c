"""End-to-end fixtures: the engine under test. Helpers live in `tests.e2e.helpers`."""

from __future__ import annotations

import pytest

ENGINES = ["spark", "beam"]


@pytest.fixture(scope="session", autouse=True)
def prism(stack_settings):
    """Beam's Prism runner, installed once (downloaded, or built with Go on a fresh machine: about 2-3 minutes)
    before the first end-to-end test, into the tests' shared artifact cache."""
    from aladia_etl.stack.prism import ensure_prism

    return ensure_prism(stack_settings)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


PARTITIONED = {
    "ALADIA_CDC__TOPIC_PREFIX": "orders4",
    "ALADIA_CDC__SLOT_NAME": "aladia_slot4",
    "ALADIA_CDC__CONNECTOR_NAME": "orders4-connector",
    "ALADIA_CDC__TOPIC_PARTITIONS": "4",
}


@pytest.fixture(scope="module")
def partitioned_connector(pipeline, stack_env):
    """A second Debezium connector on the same source whose topics have four partitions each (deleted, with its
    slot, after the module's tests: it would otherwise double Debezium's work for every later test).

    Its topics are deleted before and after: another module's connector of the same name starts with a new
    snapshot, and topics left from the last one would still hold rows deleted while no connector captured them."""
    import psycopg

    from aladia_etl.bus.offsets import wait_for_records
    from aladia_etl.bus.topics import cdc_topics
    from aladia_etl.flows.bench.setup import delete_topics
    from tests.helpers import run_cli

    env = {**stack_env, **PARTITIONED}
    settings = pipeline.model_copy(update={"cdc": pipeline.cdc.model_copy(update={"topic_prefix": "orders4"})})
    delete_topics(settings, "orders4")
    result = run_cli(["cdc", "register"], env, timeout=300)
    assert result.code == 0, result.output
    # Its snapshot is complete once its topics hold a record per source row.
    with psycopg.connect(**pipeline.postgres.conninfo(pipeline.postgres.source_db)) as conn:
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM products)"
            " + (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_items)"
        ).fetchone()[0]
    wait_for_records(settings, cdc_topics(settings), rows, timeout=180)
    yield env
    try:
        result = run_cli(["cdc", "delete", "--drop-slot"], env, timeout=300)
    finally:
        delete_topics(settings, "orders4")
    assert result.code == 0, result.output


@pytest.fixture
def partitioned_env(partitioned_connector, stack_settings):
    """The four-partition topics, and a warehouse of the test's own (created empty)."""
    from tests.helpers import fresh_database

    with fresh_database(stack_settings, "wh_partitioned") as name:
        yield {**partitioned_connector, "ALADIA_POSTGRES__WAREHOUSE_DB": name}
