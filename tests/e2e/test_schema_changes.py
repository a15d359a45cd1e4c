"""Columns added to and dropped from a mirrored table while a stream runs, by the pipeline file's `schema_changes`
policy, for **both engines**: `ADD COLUMN … DEFAULT …` on a populated table (the rows that existed hold the default
in the source without a change event: the stream re-reads them), `DROP COLUMN` (the warehouse keeps the column),
and `add_column: fail` (the stream stops with one line, nothing of the batch applied)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import psycopg
import pytest

from tests.e2e.helpers import wait_until
from tests.helpers import REPO, env_for, fresh_database, run_cli

ROWS = 300


def _source(settings):
    return psycopg.connect(**settings.postgres.conninfo(settings.postgres.source_db), autocommit=True)


def _verified(env) -> bool:
    result = run_cli(["verify", "--json"], env, timeout=300)
    return result.code == 0 and json.loads(result.stdout)["ok"]


def _start(env, engine: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "stream", "--engine", engine, "--duration", "900", "--json"],
        env=env_for(env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


@pytest.fixture(params=["spark", "beam"])
def evolving(request, pipeline, stack_env, tmp_path):
    """A table of its own per engine (schema evo_<engine>, 300 rows), a pipeline file mirroring it, a connector and
    a warehouse database of its own."""
    from aladia_etl.flows.bench.setup import delete_topics

    engine = request.param
    schema = f"evo_{engine}"
    topic_settings = pipeline.model_copy(update={"cdc": pipeline.cdc.model_copy(update={"topic_prefix": schema})})
    delete_topics(topic_settings, schema)
    with _source(pipeline) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.items (id bigint PRIMARY KEY, name text NOT NULL, qty integer)")
        conn.execute(f"ALTER TABLE {schema}.items REPLICA IDENTITY FULL")
        conn.execute(f"INSERT INTO {schema}.items SELECT g, 'item ' || g, g FROM generate_series(1, %s) g", (ROWS,))
    path = tmp_path / "aladia.yaml"
    path.write_text(f'tables:\n  include: ["{schema}.*"]\n')
    with fresh_database(pipeline, f"wh_{schema}") as warehouse_db:
        env = {
            **stack_env,
            "ALADIA_PIPELINE": str(path),
            "ALADIA_CDC__TOPIC_PREFIX": schema,
            "ALADIA_CDC__SLOT_NAME": f"{schema}_slot",
            "ALADIA_CDC__CONNECTOR_NAME": f"{schema}-connector",
            "ALADIA_CDC__PUBLICATION": f"{schema}_pub",
            "ALADIA_POSTGRES__WAREHOUSE_DB": warehouse_db,
        }
        for args in (["init"], ["cdc", "register"]):
            result = run_cli(args, env, timeout=300)
            assert result.code == 0, result.output
        warehouse = pipeline.postgres.model_copy(update={"warehouse_db": warehouse_db})
        yield engine, schema, env, path, pipeline.model_copy(update={"postgres": warehouse})
        try:
            result = run_cli(["cdc", "delete", "--drop-slot"], env, timeout=300)
        finally:
            delete_topics(topic_settings, schema)
            with _source(pipeline) as conn:
                conn.execute(f"DROP PUBLICATION IF EXISTS {schema}_pub")
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
        assert result.code == 0, result.output


def _column(settings, table: str, column: str, ids: list[int]) -> list:
    with psycopg.connect(**settings.postgres.conninfo(settings.postgres.warehouse_db)) as conn:
        rows = conn.execute(
            f"SELECT id, {column} FROM mirror.{table} WHERE id = ANY(%s) ORDER BY id", (ids,)
        ).fetchall()
    return [r[1] for r in rows]


def test_columns_added_and_dropped_while_streaming_follow_the_policy(evolving):
    engine, schema, env, path, warehouse = evolving
    table = f"{schema}__items"
    proc = _start(env, engine)
    try:
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the stream to mirror the table")
        with _source(warehouse) as src:
            # constant defaults: the 300 rows hold them without any change event
            src.execute(f"ALTER TABLE {schema}.items ADD COLUMN tier text DEFAULT 'bronze'")
            src.execute(f"ALTER TABLE {schema}.items ADD COLUMN score integer NOT NULL DEFAULT 7")
            src.execute(f"UPDATE {schema}.items SET tier = 'gold', qty = qty + 1 WHERE id <= 20")
            src.execute(f"INSERT INTO {schema}.items (id, name, qty, tier) VALUES (1001, 'new', 1, 'silver')")
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the added columns to be mirrored exactly")
        assert _column(warehouse, table, "tier", [1, 100, 1001]) == ["gold", "bronze", "silver"]
        assert _column(warehouse, table, "score", [1, 100, 1001]) == [7, 7, 7]
        with _source(warehouse) as src:
            src.execute(f"ALTER TABLE {schema}.items DROP COLUMN qty")
            src.execute(f"UPDATE {schema}.items SET name = name || '!' WHERE id <= 10")
            src.execute(f"INSERT INTO {schema}.items (id, name) VALUES (1002, 'after the drop')")
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the stream to go on after the drop")
        # drop_column: ignore (the default) — the warehouse keeps the column and its values, no longer filled
        assert _column(warehouse, table, "qty", [5, 50, 1002]) == [6, 50, None]
        assert proc.poll() is None, proc.stderr.read()[-3000:]
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err[-3000:]
    final = json.loads(out)
    assert final["dead_letters"] == 0
    seen = {(c["table"], c["kind"], c["column"], c["outcome"]) for c in final["schema_changes"]}
    assert seen == {
        (f"{schema}.items", "add_column", "tier", "evolve"),
        (f"{schema}.items", "add_column", "score", "evolve"),
        (f"{schema}.items", "drop_column", "qty", "ignore"),
    }

    # add_column: fail — the stream stops at the first record of the new shape, with one line, nothing applied
    path.write_text(f'tables:\n  include: ["{schema}.*"]\nschema_changes:\n  add_column: fail\n')
    proc = _start(env, engine)
    try:
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the stream to start again")
        with _source(warehouse) as src:
            src.execute(f"ALTER TABLE {schema}.items ADD COLUMN refused text")
            src.execute(f"UPDATE {schema}.items SET refused = 'x', name = 'changed' WHERE id = 2")
        wait_until(lambda: proc.poll() is not None, timeout=300, interval=1, what="the stream to stop")
    finally:
        code, out, err = _stop(proc)
    assert code == 3, err[-3000:]
    assert f"column 'refused' was added to {schema}.items in the source, and schema_changes.add_column is fail" in err
    assert _column(warehouse, table, "name", [2]) == ["item 2!"]  # the update was not applied
    with psycopg.connect(**warehouse.postgres.conninfo(warehouse.postgres.warehouse_db)) as conn:
        found = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))
        columns = {r[0] for r in found}
    assert "refused" not in columns
