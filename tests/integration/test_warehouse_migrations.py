"""Versioned warehouse schema on the real PostgreSQL: a fresh warehouse gets every migration; one created by the
first release (no schema_version table) is upgraded in place with its data; the result is what the code expects."""

from __future__ import annotations

import json

import pytest

from aladia_etl.warehouse.migrations import LATEST, current_version, migrate, migrations
from aladia_etl.warehouse.schema import COLUMNS, LINEAGE, WAREHOUSE_TABLE
from tests.helpers import run_cli


@pytest.fixture
def empty_db(stack, stack_settings):
    from aladia_etl.flows.bench.setup import drop_database, recreate_database
    from aladia_etl.stack.connections import connect

    name = "wh_migration_test"
    recreate_database(stack_settings, name)
    settings = stack_settings.model_copy(
        update={"postgres": stack_settings.postgres.model_copy(update={"warehouse_db": name})}
    )
    with connect(settings, name, autocommit=True) as conn:
        yield settings, conn
    drop_database(stack_settings, name)


def columns(conn, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    ]


def test_a_fresh_warehouse_gets_every_migration_and_the_columns_the_code_uses(empty_db):
    _, conn = empty_db
    assert [m.version for m in migrate(conn)] == list(range(1, LATEST + 1))
    assert current_version(conn) == LATEST
    assert migrate(conn) == []  # idempotent
    for table, target in WAREHOUSE_TABLE.items():
        assert set(COLUMNS[table]) | (set(LINEAGE) - {"kafka_topic", "kafka_partition", "kafka_offset"}) <= set(
            columns(conn, target)
        )
        assert {"batch_token", *COLUMNS[table], *LINEAGE, "staged_at"} == set(columns(conn, f"stg_{table}"))
        view = "v_" + target.split("_", 1)[1]
        assert columns(conn, view) == columns(conn, target)


def test_a_first_release_warehouse_is_upgraded_in_place(empty_db, stack_env):
    settings, conn = empty_db
    with conn.transaction():
        for statement in migrations()[0].statements():  # what the first release created, without schema_version
            conn.execute(statement)
        conn.execute(
            "INSERT INTO fact_order (order_id, customer_id, status, total_amount, order_date, is_deleted, source_lsn, "
            "source_ts) VALUES (1, 2, 'paid', 9.50, '2026-11-20', false, 1234, now())"
        )
        conn.execute(
            "INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, engine, reason, raw_value) "
            "VALUES ('orders_db.public.orders', 0, 7, 'spark', 'malformed JSON', 'x')"
        )
    assert current_version(conn) == 0
    env = {**stack_env, "ALADIA_POSTGRES__WAREHOUSE_DB": settings.postgres.warehouse_db}
    result = run_cli(["migrate", "--json"], env)
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["from"] == 0 and report["to"] == LATEST
    assert current_version(conn) == LATEST
    row = conn.execute("SELECT status, total_amount, source_lsn, source_commit_lsn FROM v_order").fetchone()
    assert row == ("paid", __import__("decimal").Decimal("9.50"), 1234, 1234)
    dead = conn.execute("SELECT id, status, reason, first_reason FROM dead_letters").fetchone()
    assert dead[0] is not None and dead[1:] == ("dead", "malformed JSON", "malformed JSON")
    again = run_cli(["migrate"], env)
    assert again.code == 0 and "already at version" in again.stderr


def test_a_warehouse_upgraded_by_a_later_release_is_refused_in_one_line(empty_db, stack_env):
    settings, conn = empty_db
    migrate(conn)
    conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, 'from_the_future')", (LATEST + 1,))
    env = {**stack_env, "ALADIA_POSTGRES__WAREHOUSE_DB": settings.postgres.warehouse_db}
    result = run_cli(["migrate"], env)
    assert result.code != 0
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert f"schema is version {LATEST + 1}, newer than this aladia's ({LATEST})" in line
    assert "pip install -U aladia-etl" in line and "Traceback" not in result.output


def test_an_earlier_releases_summary_insert_fails_instead_of_leaving_a_wrong_divisor(empty_db):
    _, conn = empty_db
    migrate(conn)
    import psycopg

    with pytest.raises(psycopg.errors.NotNullViolation):
        conn.execute(
            "INSERT INTO daily_sales_summary (day, orders, revenue, avg_order_value, items_sold, pending, paid, "
            "shipped, delivered, cancelled, refunded) VALUES ('2026-11-20', 1, 1, 1, 0, 0, 1, 0, 0, 0, 0)"
        )
