"""Pipeline files against the real source and warehouse: `pipeline validate` checks the live catalog and the data (a
key that is not unique), `init` with a bad file creates nothing, `pipeline plan` shows the DDL and a destructive change
is refused whole unless allowed."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.helpers import fresh_database, run_cli

SHOP = """
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
CREATE TABLE shop.items (id integer PRIMARY KEY, name text, price numeric(10,2), note varchar(20));
CREATE TABLE shop.visits (who text, page text, at timestamptz);
INSERT INTO shop.items VALUES (1, 'a', 1.50, 'x'), (2, 'b', 2.00, NULL);
INSERT INTO shop.visits VALUES ('ann', '/', now()), ('ann', '/', now() + interval '1 s'), ('bob', '/x', now());
ALTER TABLE shop.items REPLICA IDENTITY FULL;
"""


@pytest.fixture
def shop(pipeline, stack_env, tmp_path):
    settings = pipeline
    with psycopg.connect(**settings.postgres.conninfo(settings.postgres.source_db), autocommit=True) as conn:
        conn.execute(SHOP)

    def env_with(text: str) -> dict[str, str]:
        path = tmp_path / "aladia.yaml"
        path.write_text(text)
        return {**stack_env, "ALADIA_PIPELINE": str(path), "ALADIA_CDC__PUBLICATION": "shop_pub"}

    yield env_with
    with psycopg.connect(**settings.postgres.conninfo(settings.postgres.source_db), autocommit=True) as conn:
        conn.execute("DROP PUBLICATION IF EXISTS shop_pub")
        conn.execute("DROP SCHEMA shop CASCADE")


def one_line_error(result, needle: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 3 and len(errors) == 1 and needle in errors[0], result.output


def test_validate_checks_the_catalog_and_the_data(shop):
    env = shop('tables: {include: [shop.*], overrides: {"shop.visits": {key: [who]}}}')
    one_line_error(run_cli(["pipeline", "validate"], env), '"shop.visits".key: (who) is not unique in shop.visits')
    env = shop('tables: {include: [shop.*], overrides: {"shop.visits": {key: [who, page, at]}}}')
    result = run_cli(["pipeline", "validate", "--json"], env)
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert {t["target"] for t in report["tables"]} == {"mirror.shop__items", "mirror.shop__visits"}
    assert any("shop.visits has REPLICA IDENTITY DEFAULT" in w for w in report["warnings"])


def test_init_with_a_bad_file_creates_nothing(shop, pipeline):
    env = shop('tables: {include: [shop.items], overrides: {"shop.items": {key: [order_no]}}}')
    one_line_error(run_cli(["init"], env), 'column "order_no" is not in shop.items')
    with psycopg.connect(**pipeline.postgres.conninfo(pipeline.postgres.source_db)) as conn:
        assert conn.execute("SELECT count(*) FROM pg_publication WHERE pubname = 'shop_pub'").fetchone() == (0,)
    env = shop("tables: {include: [shop.items]}")
    result = run_cli(["init", "--json"], env)
    assert result.code == 0, result.output
    with psycopg.connect(**pipeline.postgres.conninfo(pipeline.postgres.source_db)) as conn:
        published = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = 'shop_pub' ORDER BY 1"
        ).fetchall()
    assert published == [("public.aladia_heartbeat",), ("public.aladia_signal",), ("shop.items",)]


def test_plan_then_a_destructive_change_is_refused_whole(shop, stack_settings):
    from aladia_etl.core.pipeline import load
    from aladia_etl.source.bootstrap import connect
    from aladia_etl.source.catalog import read_catalog
    from aladia_etl.warehouse import ddl
    from aladia_etl.warehouse.compile import compile_pipeline
    from aladia_etl.warehouse.schema import ensure_schema

    with fresh_database(stack_settings, "wh_plan") as name:
        env = shop("tables: {include: [shop.items]}")
        env["ALADIA_POSTGRES__WAREHOUSE_DB"] = name
        target = stack_settings.postgres.model_copy(update={"warehouse_db": name})
        settings = stack_settings.model_copy(update={"postgres": target})
        with psycopg.connect(**target.conninfo(name), autocommit=True) as wh:
            ensure_schema(wh)
        planned = run_cli(["pipeline", "plan"], env)
        assert planned.code == 0, planned.output
        assert "CREATE TABLE mirror.shop__items (id integer NOT NULL, name text, price numeric(10,2)" in planned.stdout
        with connect(settings) as src:
            catalog = read_catalog(src)
        from pathlib import Path

        compiled = compile_pipeline(load(Path(env["ALADIA_PIPELINE"])), catalog)
        with psycopg.connect(**target.conninfo(name), autocommit=True) as wh:
            ddl.apply(wh, ddl.plan(wh, compiled.sinks))
            assert ddl.plan(wh, compiled.sinks) == []  # applied: nothing left
        # the file now leaves a column out: dropping it would lose its values
        narrower = shop('tables: {include: [shop.items], overrides: {"shop.items": {exclude_columns: [note]}}}')
        narrower["ALADIA_POSTGRES__WAREHOUSE_DB"] = name
        compiled = compile_pipeline(load(Path(narrower["ALADIA_PIPELINE"])), catalog)
        with psycopg.connect(**target.conninfo(name), autocommit=True) as wh:
            changes = ddl.plan(wh, compiled.sinks)
            assert next((c.action, c.destructive) for c in changes if c.table == "mirror.shop__items") == (
                "drop column",
                True,
            )
            with pytest.raises(ddl.DestructiveChange, match=r"drop column mirror\.shop__items: note") as info:
                ddl.apply(wh, changes)
            assert "--allow-destructive" in str(info.value) and "\n" not in str(info.value)
            columns = {r[0] for r in wh.execute(ddl.COLUMNS_OF, ("mirror.shop__items",)).fetchall()}
            assert "note" in columns  # nothing was changed
            ddl.apply(wh, changes, allow_destructive=True)
            columns = {r[0] for r in wh.execute(ddl.COLUMNS_OF, ("mirror.shop__items",)).fetchall()}
            assert "note" not in columns
        plan_json = json.loads(run_cli(["pipeline", "plan", "--json"], narrower).stdout)
        assert plan_json == []
