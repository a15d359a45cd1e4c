"""The pipeline file: every invalid file is one line naming the file, the path inside it and the fix (exit code 3),
found before anything runs — by the model alone, or against a source catalog (here a catalog built by hand: the
compiler's input is plain data)."""

from __future__ import annotations

from datetime import date

import pytest

from aladia_etl.core.errors import ConfigError, ExitCode
from aladia_etl.core.pipeline import json_schema, load, path_of
from aladia_etl.source.catalog import Column, Table
from aladia_etl.warehouse.compile import builtin, compile_pipeline


def col(name: str, declared: str = "integer", kind: str | None = "int4", not_null: bool = False) -> Column:
    return Column(name, declared, declared, kind, not_null, declared)


CATALOG = {
    "public.orders": Table(
        "public", "orders", (col("id", "bigint", "int8"), col("note", "text", "text"), col("total")), ("id",), "f"
    ),
    "public.events": Table("public", "events", (col("event_id", "uuid", "uuid"), col("body", "text", "text")), (), "f"),
    "sales.orders": Table("sales", "orders", (col("id"), col("geo", "point", None)), ("id",), "d"),
    "sales.lines": Table("sales", "lines", (col("order_no"), col("line")), ("order_no", "line"), "f"),
    "public.aladia_heartbeat": Table("public", "aladia_heartbeat", (col("id"),), ("id",), "f"),
    "public.flags": Table("public", "flags", (col("id"), col("is_deleted", "boolean", "bool")), ("id",), "f"),
}


def model(columns: str, key: str = "[id]") -> str:
    """A file declaring one model with one table of these columns."""
    table = f"{{name: t, from: public.orders, to: w, key: {key}, columns: [{columns}]}}"
    return f"models: [{{name: m, tables: [{table}]}}]"


def override(text: str, include: str = "public.orders") -> str:
    return f"tables: {{include: [{include}], overrides: {text}}}"


# (what is wrong, the file, what the one line must name)
INVALID = [
    ("bad YAML", "tables: [include: x", "aladia.yaml: line "),
    ("a tab in the indentation", "tables:\n\tinclude: [public.*]", "aladia.yaml: line "),
    ("empty", "", "aladia.yaml: is empty"),
    ("a list at the top", "- public.orders", "the top level is a list"),
    ("a scalar at the top", "just text", "the top level is a str"),
    ("an unknown key", "tabels: {}", "aladia.yaml: tabels: unknown key 'tabels'"),
    ("an unknown nested key", "tables: {inclde: [public.*]}", "aladia.yaml: tables.inclde: unknown key"),
    ("a version from the future", "version: 2", "aladia.yaml: version:"),
    ("include not a list", "tables: {include: public.*}", "aladia.yaml: tables.include:"),
    ("a pattern without a schema", "tables: {include: [orders]}", "is not a schema.table pattern"),
    (
        "an override that is a pattern",
        'tables: {include: [public.*], overrides: {"public.*": {}}}',
        "is not a schema.table name",
    ),
    (
        "an unknown override key",
        override('{"public.orders": {keys: [id]}}', "public.*"),
        "unknown key 'keys'",
    ),
    (
        "deletes neither soft nor hard",
        override('{"public.orders": {deletes: maybe}}', "public.*"),
        ".deletes:",
    ),
    ("an empty key", 'tables: {include: [public.*], overrides: {"public.orders": {key: []}}}', ".key:"),
    (
        "a target that is no table name",
        override('{"public.orders": {target: "a b"}}', "public.*"),
        "is not a table name",
    ),
    (
        "target_schema public",
        "target_schema: public\ntables: {include: [public.*]}",
        "target_schema: 'public' is not a schema",
    ),
    ("an unknown built-in model", "models: [shop]", "unknown built-in model 'shop'"),
    ("a model listed twice", "models: [orders, orders]", "model 'orders' is listed twice"),
    ("a model without tables", "models: [{name: m, tables: []}]", "models[0].tables:"),
    (
        "a model column of an unknown type",
        model("{name: id, type: money}"),
        "unknown type 'money'",
    ),
    (
        "a model key not among its columns",
        model("{name: id, type: bigint}", key="[nope]"),
        "key column 'nope' is not one of the columns",
    ),
    (
        "a model column twice",
        model("{name: id, type: bigint}, {name: id, type: text}"),
        "column 'id' is declared twice",
    ),
    (
        "cleaning a number",
        model("{name: id, type: bigint, clean: [lower]}"),
        "cleaning applies to text",
    ),
    (
        "an unknown cleaning step",
        model("{name: id, type: text, clean: [shout]}"),
        "clean[0]",
    ),
    (
        "derive on a text column",
        model("{name: id, type: text, derive: utc_day}"),
        "the column's type must be date",
    ),
    (
        "min on text",
        model("{name: id, type: text, min: 1}"),
        "min applies to numbers",
    ),
    (
        "two model tables with one name",
        "models: [{name: m, tables: ["
        "{name: t, from: public.orders, to: a, key: [id], columns: [{name: id, type: bigint}]}, "
        "{name: t, from: public.events, to: b, key: [id], columns: [{name: id, type: bigint}]}]}]",
        "two tables of the model have the name 't'",
    ),
    (
        "a model writing over the built-in one",
        "models: [orders, {name: m, tables: [{name: t, from: public.orders, to: fact_order, key: [id], "
        "columns: [{name: id, type: bigint}]}]}]",
        "fact_order is a table of aladia's own",
    ),
    ("nothing captured", "tables: {include: []}", "captures no table"),
    # against the source catalog
    ("a pattern that matches nothing", "tables: {include: [nope.*]}", "tables.include[0]: 'nope.*' matches no table"),
    ("an exclude that matches nothing", "tables: {include: [public.*], exclude: [public.gone]}", "tables.exclude[0]"),
    (
        "an override of a table that does not exist",
        'tables: {include: [public.orders], overrides: {"public.gone": {}}}',
        'overrides."public.gone": public.gone is not a table',
    ),
    (
        "an override of a table not mirrored",
        'tables: {include: [public.orders], overrides: {"sales.lines": {}}}',
        "sales.lines is not mirrored",
    ),
    (
        "a key column that does not exist",
        override('{"public.orders": {key: [order_no]}}'),
        'tables.overrides."public.orders".key: column "order_no" is not in public.orders',
    ),
    (
        "an excluded column that does not exist",
        override('{"public.orders": {exclude_columns: [nope]}}'),
        '.exclude_columns: column "nope" is not in public.orders',
    ),
    (
        "a key column excluded",
        override('{"public.orders": {key: [note], exclude_columns: [note]}}'),
        'key column "note" is excluded',
    ),
    ("a table without a primary key nor key", "tables: {include: [public.events]}", "public.events has no primary key"),
    (
        "a type aladia does not mirror",
        "tables: {include: [sales.orders]}",
        'column "geo" of sales.orders has type point',
    ),
    ("version true", "version: true\ntables: {include: [public.orders]}", "version: must be the number 1"),
    ("nested too deeply", "a: " + "[" * 5000 + "]" * 5000, "is nested too deeply"),
    (
        "a model with the built-in summary",
        model("{name: id, type: bigint}").replace("tables: [", "summary: daily_sales, tables: ["),
        "daily_sales is the built-in orders model's",
    ),
    (
        "a model writing to aladia's own table",
        model("{name: id, type: bigint}").replace("to: w", "to: dead_letters"),
        "dead_letters is a table of aladia's own",
    ),
    (
        "a model column named like aladia's",
        model("{name: id, type: bigint}, {name: is_deleted, type: boolean}"),
        "'is_deleted' is a column aladia adds to every table",
    ),
    (
        "a mirrored column named like aladia's",
        "tables: {include: [public.flags]}",
        'column "is_deleted" of public.flags has the name of a column aladia adds',
    ),
    (
        "a rename of a column that does not exist",
        override('{"public.orders": {rename: {nope: x}}}'),
        'rename: column "nope" is not in public.orders',
    ),
    (
        "two columns renamed alike",
        override('{"public.orders": {rename: {note: total}}}'),
        "two columns of public.orders would be named 'total'",
    ),
    (
        "two tables sharing a staging table",
        "tables: {include: [public.orders]}\nmodels: [{name: m, tables: "
        "[{name: mirror__orders, from: public.orders, to: w, key: [id], columns: [{name: id, type: bigint}]}]}]",
        "would share a staging table",
    ),
    (
        "two tables with one target",
        override('{"sales.lines": {target: orders}}', "public.orders, sales.lines"),
        "would both become mirror.orders",
    ),
]


@pytest.mark.parametrize(("case", "text", "needle"), INVALID, ids=[c[0] for c in INVALID])
def test_an_invalid_file_is_one_line_naming_the_file_and_the_path(tmp_path, case, text, needle):
    path = tmp_path / "aladia.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        compile_pipeline(load(path), CATALOG)
    message = str(info.value)
    assert "\n" not in message and needle in message, message
    assert message.startswith(("aladia.yaml: ", f"{path}: ")) and info.value.fix
    assert info.value.exit_code == ExitCode.CONFIG


def test_there_are_at_least_thirty_kinds_of_invalid_files():
    assert len(INVALID) >= 30


def test_a_valid_file_compiles_to_mirrors_with_the_overrides(tmp_path):
    path = tmp_path / "aladia.yaml"
    path.write_text(
        "tables:\n"
        "  include: [public.*, sales.lines]\n"
        "  exclude: [public.aladia_*, public.flags]\n"
        "  overrides:\n"
        '    "public.events": {key: [event_id], deletes: hard, target: events_v2}\n'
        '    "public.orders": {exclude_columns: [note]}\n'
        "target_schema: copy\n"
    )
    compiled = compile_pipeline(load(path), CATALOG)
    by_source = {s.source: s for s in compiled.sinks}
    assert set(by_source) == {"public.orders", "public.events", "sales.lines"}
    events = by_source["public.events"]
    assert (events.target, events.key, events.deletes) == ("copy.events_v2", ("event_id",), "hard")
    assert by_source["public.orders"].column_names == ("id", "total")
    assert by_source["sales.lines"].target == "copy.sales__lines" and by_source["sales.lines"].key == (
        "order_no",
        "line",
    )
    assert compiled.captured == ("public.events", "public.orders", "sales.lines")
    # whatever order the tables come in (a running stream's sinks, a start's catalog): one order names the checkpoint
    from aladia_etl.warehouse.sinks import capture_order

    assert capture_order(reversed(compiled.captured)) == compiled.captured
    assert capture_order(["public.order_items", "public.customers"]) == ("public.customers", "public.order_items")


def test_without_a_file_the_built_in_model_captures_the_demo_tables():
    compiled = builtin()
    assert compiled.captured == ("public.customers", "public.products", "public.orders", "public.order_items")
    assert [s.target_table for s in compiled.sinks] == ["dim_customer", "dim_product", "fact_order", "fact_order_item"]


def test_paths_are_written_as_in_the_file():
    assert path_of(("tables", "overrides", "public.orders", "key")) == 'tables.overrides."public.orders".key'
    assert path_of(("models", 0, "Model", "tables", 1, "from_")) == "models[0].tables[1].from"


def test_the_json_schema_names_every_key():
    schema = json_schema()
    assert {"version", "tables", "target_schema", "models"} <= set(schema["properties"])
    assert {"include", "exclude", "overrides"} <= set(schema["$defs"]["Tables"]["properties"])


INIT_TOO = {"bad YAML", "an unknown key", "a model column of an unknown type", "nothing captured"}


@pytest.mark.parametrize(("case", "text", "needle"), INVALID[:29], ids=[c[0] for c in INVALID[:29]])
def test_the_cli_says_it_in_one_line_with_exit_3_before_touching_anything(tmp_path, case, text, needle):
    """The file's own problems need no database: `pipeline validate` and `init` stop before connecting (the servers
    here are closed ports: reaching one would be exit 4). The first case runs the real command line, the others
    the same main() in-process (a new interpreter for each costs about a second)."""
    from tests.cli import invoke
    from tests.helpers import run_cli

    path = tmp_path / "aladia.yaml"
    path.write_text(text)
    env = {
        "ALADIA_DATA_DIR": str(tmp_path / "data"),
        "ALADIA_POSTGRES__PORT": "1",
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ALADIA_PIPELINE": str(path),
    }
    for args in (["pipeline", "validate"], *([["init"]] if case in INIT_TOO else [])):
        result = run_cli(args, env, timeout=60) if case == INVALID[0][0] else invoke(args, env)
        assert result.code == 3, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: aladia.yaml: ") and needle in lines[0], lines
    assert not (tmp_path / "data").exists()


def test_a_declared_model_runs_through_the_one_processing_path(tmp_path):
    """A model declared in the file: its columns, rules and derived values applied by the same process() as the
    built-in model's; a value that breaks a rule is a dead letter naming the rule."""
    from aladia_etl.processing.bundle import process
    from aladia_etl.warehouse.mappers import Mappers
    from tests.factories import record

    path = tmp_path / "aladia.yaml"
    path.write_text(
        "models:\n"
        "  - name: crm\n"
        "    tables:\n"
        "      - name: people\n"
        "        from: public.customers\n"
        "        to: crm_people\n"
        "        key: [person]\n"
        "        columns:\n"
        "          - {name: person, from: id, type: bigint, required: true}\n"
        "          - {name: mail, from: email, type: text, clean: [trim, lower], check: email}\n"
        "          - {name: tier, from: country, type: text, clean: [upper], one_of: [GB, FR], label: market}\n"
        "          - {name: since, from: created_at, type: date, derive: utc_day}\n"
    )
    compiled = compile_pipeline(load(path))
    assert compiled.captured == ("public.customers",) and compiled.sinks[0].target == "public.crm_people"
    good = {"id": 7, "email": "  Ada@Example.com ", "country": "gb", "created_at": "2026-11-20T23:30:00-02:00"}
    bad = {**good, "id": 8, "country": "de"}
    bundle = process(
        [record("customers", good, offset=0, lsn=1), record("customers", bad, offset=1, lsn=2)], Mappers(compiled.sinks)
    )
    (row,) = bundle.rows["people"]
    assert row[:4] == (7, "ada@example.com", "GB", date(2026, 11, 21))
    (dead,) = bundle.dead
    assert dead.offset == 1 and dead.reason == "country: unknown market 'DE'"


def test_a_column_named_like_aladias_own_is_mirrored_under_another_name(tmp_path):
    path = tmp_path / "aladia.yaml"
    path.write_text('tables: {include: [public.flags], overrides: {"public.flags": {rename: {is_deleted: gone}}}}')
    (sink,) = compile_pipeline(load(path), CATALOG).sinks
    assert sink.column_names == ("id", "gone") and [c.source for c in sink.columns] == ["id", "is_deleted"]


def test_a_model_that_rejects_a_record_leaves_the_mirror_of_the_same_table_exact(tmp_path):
    """The record's fate per table: the mirror applies it, the model's rule makes it a dead letter (replayable)."""
    from aladia_etl.processing.bundle import process
    from aladia_etl.warehouse.mappers import Mappers
    from tests.factories import TOPIC_PREFIX

    path = tmp_path / "aladia.yaml"
    path.write_text(
        "tables: {include: [public.orders]}\n"
        "models: [{name: m, tables: [{name: big, from: public.orders, to: big_orders, key: [id], columns: ["
        "{name: id, type: bigint}, {name: total, type: integer, min: 100}]}]}]\n"
    )
    compiled = compile_pipeline(load(path), CATALOG)
    value = (
        b'{"op": "c", "source": {"lsn": 5, "ts_ms": 1, "table": "orders"}, "after": {"id": 1, "note": "x", "total": 3}}'
    )
    bundle = process([(f"{TOPIC_PREFIX}.public.orders", 0, 0, b"k", value)], Mappers(compiled.sinks))
    assert [r[:3] for r in bundle.rows["mirror.orders"]] == [(1, "x", 3)] and bundle.rows["big"] == []
    (dead,) = bundle.dead
    assert dead.reason == "big: total: 3 is below the minimum 100"
