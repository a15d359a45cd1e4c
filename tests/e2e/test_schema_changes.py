"""Columns added to and dropped from a mirrored table while a stream runs, by the pipeline file's `schema_changes`
policy, for **both engines**: `ADD COLUMN … DEFAULT …` on a populated table (the rows that existed hold the default
in the source without a change event: the stream re-reads them), `DROP COLUMN` (the warehouse keeps the column), a
rename (seen as both: the old column keeps its values, the new one is read again), `add_column: fail` (the stream
stops with one line, nothing of the batch applied), then `add_column: ignore`, `drop_column: evolve` and `new_table:
ignore` (verify names the table the warehouse lacks), and `drop_column: fail`; types widened while the stream runs
(integer → bigint, varchar(5) → varchar(20), numeric(6,2) → numeric(12,4), then varchar(20) → text), a narrowing
(the warehouse keeps its type) and `type_change: fail`."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from aladia_etl.processing.capture import EVERY_S
from tests.e2e.helpers import wait_until
from tests.helpers import REPO, env_for, fresh_database, run_cli

ROWS = 300


def _source(settings):
    return psycopg.connect(**settings.postgres.conninfo(settings.postgres.source_db), autocommit=True)


def _verified(env, *tables: str) -> bool:
    result = run_cli(["verify", "--json", *(f"--table={t}" for t in tables)], env, timeout=300)
    return result.code == 0 and json.loads(result.stdout)["ok"]


@dataclass
class Run:
    proc: subprocess.Popen
    code: int | None = None
    out: str = ""
    err: str = ""

    def ended(self) -> bool:
        return self.proc.poll() is not None


@contextlib.contextmanager
def _streaming(env, engine: str) -> Iterator[Run]:
    """`aladia stream` running in the block; stopped (SIGTERM) after it, its exit code and output kept."""
    run = Run(
        subprocess.Popen(
            [sys.executable, "-m", "aladia_etl", "stream", "--engine", engine, "--duration", "900", "--json"],
            env=env_for(env),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGTERM)
        run.out, run.err = run.proc.communicate(timeout=300)
        run.code = run.proc.returncode
        print(run.err[-8000:])  # shown when the test fails


PROBE = 299  # the row whose change shows that a stream has planned its tables and applies records


def _refused(env, engine: str, warehouse, schema: str, statements: list[str], tables: tuple[str, ...] = ()) -> Run:
    """A stream that must stop by itself once `statements` ran in the source (when given): they run only once the
    stream applied a change made after it started (so that it refuses a record, not the catalog at its start) and
    mirrors `tables` (all: none given) exactly."""
    with _streaming(env, engine) as run:
        if statements:
            with _source(warehouse) as src:
                src.execute(f"UPDATE {schema}.items SET name = name || '+' WHERE id = %s", (PROBE,))
                (expected,) = src.execute(f"SELECT name FROM {schema}.items WHERE id = %s", (PROBE,)).fetchone()
            wait_until(
                lambda: (
                    _column(warehouse, f"{schema}__items", "name", [PROBE]) == [expected] and _verified(env, *tables)
                ),
                timeout=300,
                interval=2,
                what=lambda: (
                    f"the stream to apply a change made after it started (warehouse: "
                    f"{_column(warehouse, f'{schema}__items', 'name', [PROBE])}, expected {expected!r}; verify: "
                    f"{run_cli(['verify', '--json', *(f'--table={t}' for t in tables)], env).output[-800:]})"
                ),
            )
            with _source(warehouse) as src:
                for statement in statements:
                    src.execute(statement)
        wait_until(run.ended, timeout=300, interval=1, what="the stream to stop by itself")
    assert run.code == 3, run.err[-3000:]
    return run


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
        conn.execute(
            f"CREATE TABLE {schema}.items (id bigint PRIMARY KEY, name text NOT NULL, qty integer, code varchar(5), "
            "price numeric(6,2))"
        )
        conn.execute(f"ALTER TABLE {schema}.items REPLICA IDENTITY FULL")
        conn.execute(
            f"INSERT INTO {schema}.items SELECT g, 'item ' || g, g, 'c' || g, g / 100.0 FROM generate_series(1, %s) g",
            (ROWS,),
        )
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
    with _streaming(env, engine) as run:
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
        # a rename reaches the stream as a drop and an add: under the defaults, nothing is lost — the old column keeps
        # its values, the new one is read again for every row
        with _source(warehouse) as src:
            src.execute(f"ALTER TABLE {schema}.items RENAME COLUMN score TO points")
            src.execute(f"UPDATE {schema}.items SET points = 9 WHERE id <= 5")
        # verify compares the columns the warehouse holds: wait for the new one to be there, then for its values
        wait_until(
            lambda: "points" in _types(warehouse, table) and _verified(env),
            timeout=300,
            interval=2,
            what="the renamed column to be mirrored exactly",
        )
        assert _column(warehouse, table, "points", [1, 100, 1002]) == [9, 7, 7]
        assert _column(warehouse, table, "score", [1, 100, 1002]) == [7, 7, 7]
        assert not run.ended()
    assert run.code == 0, run.err[-3000:]
    final = json.loads(run.out)
    assert final["dead_letters"] == 0
    # each change once: the column dropped and kept is met again by the rename's re-plan, and is no new change
    seen = [(c["table"], c["kind"], c["column"], c["outcome"], c.get("detail")) for c in final["schema_changes"]]
    assert seen == [
        (f"{schema}.items", "add_column", "tier", "evolve", None),
        (f"{schema}.items", "add_column", "score", "evolve", None),
        (f"{schema}.items", "drop_column", "qty", "ignore", None),
        (f"{schema}.items", "add_column", "points", "evolve", "renamed from score?"),
        (f"{schema}.items", "drop_column", "score", "ignore", "renamed to points?"),
    ]

    # add_column: fail — the stream stops at the first record of the new shape, with one line, nothing applied
    path.write_text(f'tables:\n  include: ["{schema}.*"]\nschema_changes:\n  add_column: fail\n')
    run = _refused(
        env,
        engine,
        warehouse,
        schema,
        [
            f"ALTER TABLE {schema}.items ADD COLUMN refused text",
            f"UPDATE {schema}.items SET refused = 'x', name = 'changed' WHERE id = 2",
        ],
    )
    assert f"column 'refused' was added to {schema}.items in the source, and schema_changes.add_column is fail" in (
        run.err
    )
    assert _column(warehouse, table, "name", [2]) == ["item 2!"]  # the update was not applied
    assert "refused" not in _types(warehouse, table)

    # the other value of each: add_column: ignore, drop_column: evolve, new_table: ignore
    path.write_text(
        f'tables:\n  include: ["{schema}.*"]\nschema_changes:\n  add_column: ignore\n  drop_column: evolve\n'
        "  new_table: ignore\n"
    )
    with _streaming(env, engine) as run:
        # the update the last run refused is applied now, without the column it carried
        wait_until(
            lambda: _column(warehouse, table, "name", [2]) == ["changed"] and _verified(env),
            timeout=300,
            interval=2,
            what="the stream to apply the refused update without its column",
        )
        assert "refused" not in _types(warehouse, table)
        with _source(warehouse) as src:
            src.execute(f"CREATE TABLE {schema}.later (id bigint PRIMARY KEY, note text)")
            src.execute(f"INSERT INTO {schema}.later VALUES (1, 'not captured')")
            created = time.monotonic()
            src.execute(f"ALTER TABLE {schema}.items DROP COLUMN tier")
            src.execute(f"UPDATE {schema}.items SET name = 'tier gone', refused = 'y' WHERE id = 3")
        # verify of the whole pipeline now names the table the warehouse lacks (below): this table's own is exact
        wait_until(
            lambda: "tier" not in _types(warehouse, table) and _verified(env, f"{schema}.items"),
            timeout=300,
            interval=2,
            what=lambda: f"the dropped column to be dropped from the warehouse ({sorted(_types(warehouse, table))})",
        )
        assert _column(warehouse, table, "name", [3]) == ["tier gone"]
        # under capture the stream's catalog reader would have looked twice by now (every EVERY_S); ignore runs none
        wait_until(lambda: time.monotonic() - created > 2 * EVERY_S, 60, interval=0.5, what="two catalog looks")
        assert not run.ended()
    assert run.code == 0, run.err[-3000:]
    final = json.loads(run.out)
    seen = [(c["table"], c["kind"], c["column"], c["outcome"], c.get("detail")) for c in final["schema_changes"]]
    assert seen == [
        (f"{schema}.items", "add_column", "refused", "ignore", None),
        # the columns dropped earlier and kept by the default go now, at the start, by drop_column: evolve
        (f"{schema}.items", "drop_column", "qty", "evolve", None),
        (f"{schema}.items", "drop_column", "score", "evolve", None),
        (f"{schema}.items", "drop_column", "tier", "evolve", None),
    ]
    assert {"qty", "score", "tier", "refused"}.isdisjoint(_types(warehouse, table))
    assert _types(warehouse, f"{schema}__later") == {}  # left to the next init and cdc register
    result = run_cli(["verify", "--json"], env, timeout=300)
    assert result.code != 0, result.output
    report = {t["table"]: t for t in json.loads(result.stdout)["tables"]}
    assert report[f"mirror.{table}"]["ok"], report
    later = report[f"mirror.{schema}__later"]
    assert (later["in_warehouse"], later["ok"], later["missing"]) == (False, False, 1), later

    # drop_column: fail — the stream stops at the first record without the column, with one line, nothing applied
    path.write_text(f'tables:\n  include: ["{schema}.*"]\nschema_changes:\n  drop_column: fail\n  new_table: ignore\n')
    statements = [
        f"ALTER TABLE {schema}.items DROP COLUMN code",
        f"UPDATE {schema}.items SET name = 'not applied' WHERE id = 4",
    ]
    # Probed: add_column is evolve again, so the start adds `refused`; Spark's first batch then held records of
    # columns dropped since and records older than columns added since, and the stream re-plans for both shapes (it
    # once alternated between the two, a re-plan each, and applied nothing)
    run = _refused(env, engine, warehouse, schema, statements, tables=(f"{schema}.items",))
    assert f"column 'code' was dropped from {schema}.items in the source, and schema_changes.drop_column is fail" in (
        run.err
    )
    assert _column(warehouse, table, "name", [4]) == ["item 4!"]  # the update was not applied
    assert "code" in _types(warehouse, table)
    with _source(warehouse) as src:
        found = src.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (f"{schema}_pub",))
        assert "later" not in {r[0] for r in found}


def _types(settings, table: str) -> dict[str, str]:
    with psycopg.connect(**settings.postgres.conninfo(settings.postgres.warehouse_db)) as conn:
        found = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            (f"mirror.{table}",),
        )
        return dict(found.fetchall())


def test_types_widened_while_streaming_follow_the_policy(evolving):
    engine, schema, env, path, warehouse = evolving
    table = f"{schema}__items"
    with _streaming(env, engine) as run:
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the stream to mirror the table")
        with _source(warehouse) as src:
            # each value fits only the widened type: the stream must widen the warehouse column, not dead-letter it
            src.execute(f"ALTER TABLE {schema}.items ALTER COLUMN qty TYPE bigint")
            src.execute(f"UPDATE {schema}.items SET qty = 1099511627776 WHERE id = 3")
            src.execute(f"ALTER TABLE {schema}.items ALTER COLUMN code TYPE varchar(20)")
            src.execute(f"UPDATE {schema}.items SET code = 'a much longer code' WHERE id = 4")
            src.execute(f"ALTER TABLE {schema}.items ALTER COLUMN price TYPE numeric(12,4)")
            src.execute(f"UPDATE {schema}.items SET price = 12345678.1234 WHERE id = 5")
            src.execute(f"UPDATE {schema}.items SET name = 'after' WHERE id = 6")
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the widened values to be mirrored exactly")
        assert _column(warehouse, table, "qty", [3]) == [1099511627776]
        assert _column(warehouse, table, "code", [4]) == ["a much longer code"]
        assert str(_column(warehouse, table, "price", [5])[0]) == "12345678.1234"
        types = _types(warehouse, table)
        assert (types["qty"], types["code"], types["price"]) == ("bigint", "character varying(20)", "numeric(12,4)")
        assert not run.ended()
    assert run.code == 0, run.err[-3000:]
    final = json.loads(run.out)
    assert final["dead_letters"] == 0
    seen = {(c["column"], c["detail"], c["outcome"]) for c in final["schema_changes"]}
    assert seen == {
        ("qty", "integer → bigint", "widen"),
        ("code", "character varying(5) → character varying(20)", "widen"),
        ("price", "numeric(6,2) → numeric(12,4)", "widen"),
    }

    # a narrowing: refused at start by type_change: fail; kept (the warehouse's wider type) by the default
    with _source(warehouse) as src:
        src.execute(f"ALTER TABLE {schema}.items ALTER COLUMN code TYPE varchar(18)")
        src.execute(f"UPDATE {schema}.items SET name = 'narrowed' WHERE id = 7")
    fail = f'tables:\n  include: ["{schema}.*"]\nschema_changes:\n  type_change: fail\n'
    path.write_text(fail)
    run = _refused(env, engine, warehouse, schema, [])
    assert f"column 'code' of {schema}.items changed type in the source (character varying(20) → " in run.err
    path.write_text(f'tables:\n  include: ["{schema}.*"]\n')
    with _streaming(env, engine) as run:
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the stream to start on the narrowed column")
        assert _types(warehouse, table)["code"] == "character varying(20)"
        assert _column(warehouse, table, "name", [7]) == ["narrowed"]
    assert run.code == 0, run.err[-3000:]

    # a widening while running, refused by type_change: fail
    path.write_text(fail)
    with _source(warehouse) as src:
        src.execute(f"ALTER TABLE {schema}.items ALTER COLUMN code TYPE varchar(20)")  # back to the warehouse's type
    run = _refused(
        env,
        engine,
        warehouse,
        schema,
        [
            f"ALTER TABLE {schema}.items ALTER COLUMN qty TYPE numeric(20,0)",
            f"UPDATE {schema}.items SET qty = 10000000000000000000, name = 'refused' WHERE id = 8",
        ],
    )
    assert f"column 'qty' of {schema}.items changed type in the source (bigint → numeric(20,0))" in run.err
    assert "schema_changes.type_change is fail" in run.err
    assert _column(warehouse, table, "name", [8]) == ["item 8"]  # nothing of the batch applied
    assert _types(warehouse, table)["qty"] == "bigint"

    # every change met, applied or refused, is in the schema history
    result = run_cli(["schema", "history", "--table", f"{schema}.items", "--json"], env, timeout=120)
    assert result.code == 0, result.output
    history = [(c["column"], c["detail"], c["outcome"]) for c in json.loads(result.stdout)]
    assert history == [
        *sorted(seen, key=lambda c: ["qty", "code", "price"].index(c[0])),
        ("code", "character varying(20) → character varying(18)", "fail"),
        ("code", "character varying(20) → character varying(18)", "keep"),  # once, though every start meets it
        ("qty", "bigint → numeric(20,0)", "fail"),
    ]

    # under the default again: the refused widening is applied at the start, and varchar → text while running
    path.write_text(f'tables:\n  include: ["{schema}.*"]\n')
    with _streaming(env, engine) as run:
        wait_until(
            lambda: _column(warehouse, table, "name", [8]) == ["refused"] and _verified(env),
            timeout=300,
            interval=2,
            what="the refused widening to be applied",
        )
        with _source(warehouse) as src:
            src.execute(f"ALTER TABLE {schema}.items ALTER COLUMN code TYPE text")
            src.execute(f"UPDATE {schema}.items SET code = repeat('long ', 10) WHERE id = 9")
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the code column to become text")
        assert _column(warehouse, table, "code", [9]) == ["long " * 10]
        assert (_types(warehouse, table)["qty"], _types(warehouse, table)["code"]) == ("numeric(20,0)", "text")
    assert run.code == 0, run.err[-3000:]
    assert {(c["column"], c["detail"], c["outcome"]) for c in json.loads(run.out)["schema_changes"]} == {
        ("qty", "bigint → numeric(20,0)", "widen"),
        ("code", "character varying(20) → text", "widen"),
    }


def test_a_table_created_while_streaming_is_captured_with_its_earlier_rows(evolving):
    engine, schema, env, _path, warehouse = evolving
    extra = f"{schema}__extra"
    with _streaming(env, engine) as run:
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the stream to mirror the table")
        with _source(warehouse) as src:
            src.execute(f"CREATE TABLE {schema}.extra (id bigint PRIMARY KEY, note text NOT NULL)")
            src.execute(f"ALTER TABLE {schema}.extra REPLICA IDENTITY FULL")
            # rows written before the publication holds the table: only the snapshot can bring them
            src.execute(f"INSERT INTO {schema}.extra SELECT g, 'early ' || g FROM generate_series(1, 200) g")
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the new table to be mirrored exactly")
        with _source(warehouse) as src:
            src.execute(f"UPDATE {schema}.extra SET note = 'changed' WHERE id <= 10")
            src.execute(f"DELETE FROM {schema}.extra WHERE id > 190")
            src.execute(f"INSERT INTO {schema}.extra VALUES (1000, 'late')")
        wait_until(lambda: _verified(env), timeout=300, interval=2, what="the new table's changes to be mirrored")
        assert _column(warehouse, extra, "note", [1, 50, 1000]) == ["changed", "early 50", "late"]
        # deletes are soft by default: the rows stay, marked
        assert _column(warehouse, extra, "is_deleted", [190, 191, 200]) == [False, True, True]
        assert not run.ended()
    assert run.code == 0, run.err[-3000:]
    final = json.loads(run.out)
    assert final["dead_letters"] == 0
    assert [(c["table"], c["kind"], c["outcome"]) for c in final["schema_changes"]] == [
        (f"{schema}.extra", "new_table", "capture")
    ]
    with _source(warehouse) as src:
        found = src.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (f"{schema}_pub",))
        assert {"items", "extra"} <= {r[0] for r in found}
    result = run_cli(["cdc", "config", "--json"], env, timeout=120)
    assert result.code == 0, result.output
    assert rf"{schema}\.extra" in json.loads(result.stdout)["table.include.list"]
    # The next start resumes where the run stopped, new table included: it does not read every topic again (Spark
    # names its checkpoint for the set of topics, which grew while the run went on).
    topics = json.loads(run_cli(["topics", "--json"], env).stdout)["topics"]
    total = sum(t["messages"] for t in topics if t["name"].startswith(f"{schema}."))
    result = run_cli(["stream", "--engine", engine, "--until-idle", "--json"], env, timeout=600)
    assert result.code == 0, result.output[-3000:]
    again = json.loads(result.stdout)
    assert again["lag"] == 0 and again["records"] < total / 2, (again["records"], total)
    assert _verified(env)
