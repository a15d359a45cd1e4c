"""Schema changes of mirrored tables: what a record of a changed shape does (never a dead letter, never applied), and
what the planner decides per policy from the source catalog, the warehouse table and what the records showed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aladia_etl.core.errors import ConfigError, RecordError, SchemaDrift, ShapeChanged
from aladia_etl.processing.bundle import process
from aladia_etl.warehouse.evolution import plan
from aladia_etl.warehouse.row_mapping import row_mapper
from aladia_etl.warehouse.sinks import Sink, SinkColumn
from aladia_etl.warehouse.staging import StageStats
from tests import factories


def sink(
    *columns: str,
    known: tuple[str, ...] | None = None,
    optional: tuple[str, ...] = (),
    types: dict[str, tuple[str, str]] | None = None,
) -> Sink:
    """`types`: column → (warehouse type, converter kind); else id bigint and text."""
    types = {"id": ("bigint", "int8"), **(types or {})}
    return Sink(
        name="mirror.shop__items",
        source_schema="shop",
        source_table="items",
        target_schema="mirror",
        target_table="shop__items",
        staging_schema="aladia_staging",
        staging_table="mirror__shop__items",
        columns=tuple(
            SinkColumn(
                c,
                c,
                *types.get(c, ("text", "text")),
                c == "id",
                {"optional": True} if c in optional else {},
            )
            for c in columns
        ),
        key=("id",),
        known_fields=tuple(columns) if known is None else known,
    )


class FakeWarehouse:
    """The one query the planner asks: the warehouse table's columns (fake transport, real planner)."""

    def __init__(self, columns: list[str], types: dict[str, str] | None = None) -> None:
        self.columns = columns
        self.types = {"id": "bigint", **(types or {})}

    def execute(self, query, params):
        class Rows:
            def fetchall(inner):
                return [(c, self.types.get(c, "text")) for c in self.columns]

        return Rows()


def test_a_record_with_a_new_or_missing_field_is_a_shape_change_not_a_dead_letter():
    mapper = row_mapper(sink("id", "name", known=("id", "name", "secret")))
    assert mapper({"id": 1, "name": "a", "secret": "excluded, but known"}) == (1, "a")
    with pytest.raises(ShapeChanged) as added:
        mapper({"id": 1, "name": "a", "tier": "gold"})
    assert (added.value.sink, added.value.added, added.value.missing) == ("mirror.shop__items", ("tier",), ())
    with pytest.raises(ShapeChanged) as missing:
        mapper({"id": 1})
    assert missing.value.missing == ("name",)
    # a column the stream added after a change: records older than it leave it NULL
    assert row_mapper(sink("id", "tier", optional=("tier",)))({"id": 1}) == (1, None)


def test_the_bundle_reports_the_change_and_the_apply_refuses_the_whole_batch():
    records = [
        factories.record("items", {"id": 1, "name": "a"}, 0, schema="shop"),
        factories.record("items", {"id": 2, "name": "b", "tier": "gold"}, 1, schema="shop"),
    ]
    from aladia_etl.warehouse.mappers import Mappers

    bundle = process(records, Mappers([sink("id", "name")]))
    assert bundle.dead == [] and bundle.stats.records == 2
    assert bundle.stats.drift == {"mirror.shop__items": {"added": ["tier"], "missing": []}}
    stored = StageStats.from_json(bundle.stats.to_json())
    assert stored.drift == bundle.stats.drift
    assert "tier" in str(SchemaDrift(stored.drift).reason)


def test_an_added_column_evolves_by_default_and_its_rows_are_read_again():
    planned = plan(FakeWarehouse(["id", "name"]), (sink("id", "name", "tier"),))
    (evolved,) = planned.sinks
    assert [c.name for c in evolved.columns] == ["id", "name", "tier"]
    assert evolved.columns[2].rules == {"optional": True}  # records older than the column lack it
    assert planned.backfill == ["shop.items"]
    assert planned.changes == [{"table": "shop.items", "kind": "add_column", "column": "tier", "outcome": "evolve"}]


def test_an_added_column_ignored_is_not_mirrored_and_never_seen_as_a_change_again():
    planned = plan(FakeWarehouse(["id", "name"]), (sink("id", "name", "tier"),), {"add_column": "ignore"})
    (kept,) = planned.sinks
    assert [c.name for c in kept.columns] == ["id", "name"] and "tier" in kept.known_fields
    assert not planned.backfill
    assert row_mapper(kept)({"id": 1, "name": "a", "tier": "gold"}) == (1, "a")


def test_a_dropped_column_is_kept_in_the_warehouse_by_default_and_dropped_when_asked():
    kept = plan(FakeWarehouse(["id", "name", "qty"]), (sink("id", "name"),))
    (retired,) = kept.sinks
    assert retired.retired == ("qty",) and "qty" in retired.known_fields and not kept.drops
    assert row_mapper(retired)({"id": 1, "name": "a", "qty": 3}) == (1, "a")  # a record older than the drop
    dropped = plan(FakeWarehouse(["id", "name", "qty"]), (sink("id", "name"),), {"drop_column": "evolve"})
    assert dropped.drops == {("mirror.shop__items", "qty")} and dropped.sinks[0].retired == ()


@pytest.mark.parametrize("drop_column", ["ignore", "evolve"])
def test_one_column_gone_and_one_of_its_type_come_is_said_to_be_a_rename_and_each_follows_its_policy(drop_column):
    """`ALTER TABLE … RENAME COLUMN qty TO quantity` reaches the stream as a drop and an add: both changes name the
    other column, and neither loses data (the old column kept, or dropped while the new one is read again)."""
    types = {"qty": ("integer", "int4"), "quantity": ("integer", "int4")}
    planned = plan(
        FakeWarehouse(["id", "name", "qty"], {"qty": "integer"}),
        (sink("id", "name", "quantity", types=types),),
        {"drop_column": drop_column},
    )
    assert planned.changes == [
        {"table": "shop.items", "kind": "add_column", "column": "quantity", "outcome": "evolve",
         "detail": "renamed from qty?"},
        {"table": "shop.items", "kind": "drop_column", "column": "qty", "outcome": drop_column,
         "detail": "renamed to quantity?"},
    ]  # fmt: skip
    assert planned.backfill == ["shop.items"]  # the new column is read again: no value of the old one is missing
    # another type, or two columns added, is no rename: nothing is said that is not known
    other = plan(FakeWarehouse(["id", "name", "qty"], {"qty": "integer"}), (sink("id", "name", "quantity"),))
    two = plan(FakeWarehouse(["id", "qty"], {"qty": "integer"}), (sink("id", "name", "quantity", types=types),))
    assert not [c for c in other.changes + two.changes if "detail" in c]


def test_a_column_dropped_and_kept_long_ago_is_no_part_of_a_rename():
    """Under drop_column: ignore the warehouse keeps a dropped column, and every later plan meets its drop again:
    a change schema_history recorded is left out when pairing a rename, either way round."""
    ints = {"score": ("integer", "int4"), "points": ("integer", "int4"), "bonus": ("integer", "int4")}
    old_drop = ("shop.items", "drop_column", "qty", "", "ignore")
    warehouse = FakeWarehouse(["id", "name", "qty", "score"], {"qty": "integer", "score": "integer"})
    renamed = plan(warehouse, (sink("id", "name", "points", types=ints),), recorded={old_drop})
    assert {c["column"]: c.get("detail") for c in renamed.changes} == {
        "points": "renamed from score?",
        "score": "renamed to points?",
        "qty": None,
    }
    # a column added now beside one dropped long ago is no rename of it
    kept = FakeWarehouse(["id", "name", "score"], {"score": "integer"})
    old_score = ("shop.items", "drop_column", "score", "", "ignore")
    added = plan(kept, (sink("id", "name", "bonus", types=ints),), recorded={old_score})
    assert not [c for c in added.changes if "detail" in c]


@pytest.mark.parametrize(
    ("kind", "have", "columns"), [("add_column", ["id"], ("id", "tier")), ("drop_column", ["id", "qty"], ("id",))]
)
def test_a_change_the_policy_refuses_stops_with_one_line_naming_the_setting(kind, have, columns):
    with pytest.raises(ConfigError) as info:
        plan(FakeWarehouse(have), (sink(*columns),), {kind: "fail"})
    assert f"schema_changes.{kind} is fail" in info.value.reason and "shop.items" in info.value.reason
    assert f"set schema_changes.{kind}" in info.value.fix


def test_what_the_records_showed_is_reconciled_with_the_catalog():
    drift = {"mirror.shop__items": {"added": ["gone_again"], "missing": ["name"]}}
    planned = plan(FakeWarehouse(["id", "name"]), (sink("id", "name"),), drift=drift)
    (adjusted,) = planned.sinks
    assert "gone_again" in adjusted.known_fields  # a column added and dropped again: ignored
    assert adjusted.columns[1].rules == {"optional": True}  # records older than the column: NULL, then re-read
    assert planned.backfill == ["shop.items"]


def test_a_new_warehouse_table_and_model_tables_are_left_to_the_plan():
    planned = plan(FakeWarehouse([]), (sink("id", "name"),))
    assert planned.sinks == (sink("id", "name"),) and not planned.changes and not planned.backfill


def test_every_missing_column_is_reported_at_once():
    with pytest.raises(ShapeChanged) as info:
        row_mapper(sink("id", "name", "qty"))({"id": 1})
    assert info.value.missing == ("name", "qty")  # one re-plan, not one per column


def test_a_table_that_cannot_be_read_again_does_not_stop_the_stream(monkeypatch):
    from aladia_etl.cdc import snapshots
    from aladia_etl.core.errors import UsageError
    from aladia_etl.core.settings import Settings
    from aladia_etl.processing.capture import backfill as _backfill
    from aladia_etl.processing.model import StreamProgress

    def refuse(settings, tables, where=None, merge=False):
        assert merge  # a stream does not wait for a snapshot the user started
        raise UsageError("shop.items has no primary key: Debezium reads a table in chunks ordered by it", "add one")

    monkeypatch.setattr(snapshots, "request", refuse)
    progress = StreamProgress("spark")
    _backfill(Settings(_env_file=None), ("shop.items",), progress, {})
    assert progress.notes and "no primary key" in progress.notes[0]
    assert "aladia cdc snapshot shop.items" in progress.notes[0]


QTY_INT = {"qty": ("integer", "int4")}
QTY_BIG = {"qty": ("bigint", "int8")}


@pytest.mark.parametrize(
    ("types", "row", "field"),
    [
        (QTY_INT, {"id": 1, "qty": 2**40}, "qty"),  # integer → bigint in the source
        ({"qty": ("character varying(5)", "text")}, {"id": 1, "qty": "longer than five"}, "qty"),  # varchar(n) → m
        ({"qty": ("numeric(6,2)", "numeric")}, {"id": 1, "qty": "123456.789"}, "qty"),  # precision and scale up
        (QTY_INT, {"id": 1, "qty": "not a number"}, "qty"),  # integer → text: the plan decides what it is
    ],
)
def test_a_value_its_column_cannot_hold_is_a_shape_change_of_a_mirror(types, row, field):
    mapper = row_mapper(sink("id", "qty", types=types))
    with pytest.raises(ShapeChanged) as info:
        mapper(row)
    assert info.value.misfit == (field,) and info.value.added == info.value.missing == ()


def test_the_bundle_refuses_the_batch_of_a_misfit_and_a_model_table_keeps_dead_letters():
    from aladia_etl.warehouse.mappers import Mappers

    records = [factories.record("items", {"id": 1, "qty": 2**40}, 0, schema="shop")]
    bundle = process(records, Mappers([sink("id", "qty", types=QTY_INT)]))
    assert bundle.dead == []
    assert bundle.stats.drift == {"mirror.shop__items": {"added": [], "missing": [], "misfit": ["qty"]}}
    assert "misfit qty" in SchemaDrift(StageStats.from_json(bundle.stats.to_json()).drift).reason


def test_a_widened_source_column_is_widened_and_the_value_then_fits():
    planned = plan(FakeWarehouse(["id", "qty"], {"qty": "integer"}), (sink("id", "qty", types=QTY_BIG),))
    (widened,) = planned.sinks
    assert widened.columns[1].sql_type == "bigint"  # the warehouse plan widens the column (ddl.widens)
    change = {"table": "shop.items", "kind": "type_change", "column": "qty", "detail": "integer → bigint"}
    assert planned.changes == [{**change, "outcome": "widen"}]
    assert row_mapper(widened)({"id": 1, "qty": 2**40}) == (1, 2**40)


def test_a_narrowed_source_column_keeps_the_warehouse_type_and_its_converter():
    planned = plan(FakeWarehouse(["id", "qty"], {"qty": "bigint"}), (sink("id", "qty", types=QTY_INT),))
    (kept,) = planned.sinks
    assert (kept.columns[1].sql_type, kept.columns[1].kind) == ("bigint", "int8")
    assert planned.changes[0]["outcome"] == "keep" and planned.changes[0]["detail"] == "bigint → integer"


@pytest.mark.parametrize(("have", "source"), [("integer", QTY_BIG), ("bigint", QTY_INT)])
def test_type_change_fail_refuses_a_widening_and_a_narrowing_with_one_line(have, source):
    with pytest.raises(ConfigError) as info:
        plan(FakeWarehouse(["id", "qty"], {"qty": have}), (sink("id", "qty", types=source),), {"type_change": "fail"})
    assert "'qty' of shop.items changed type" in info.value.reason and "schema_changes.type_change" in info.value.fix


def test_an_incompatible_type_change_is_left_to_the_warehouse_plan():
    planned = plan(FakeWarehouse(["id", "qty"], {"qty": "integer"}), (sink("id", "qty"),))  # integer → text
    assert planned.sinks[0].columns[1].sql_type == "text" and not planned.changes


def test_a_misfit_the_catalog_does_not_explain_becomes_a_dead_letter_after_the_re_plan():
    drift = {"mirror.shop__items": {"added": [], "missing": [], "misfit": ["qty"]}}
    planned = plan(FakeWarehouse(["id", "qty"], {"qty": "integer"}), (sink("id", "qty", types=QTY_INT),), drift=drift)
    (checked,) = planned.sinks
    assert checked.columns[1].rules == {"type_checked": True} and not planned.changes
    with pytest.raises(RecordError, match="does not fit INTEGER"):
        row_mapper(checked)({"id": 1, "qty": 2**40})


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ('tables:\n  include: ["shop.*"]\n', True),  # capture is the default: nothing is left uncaptured
        ('tables:\n  include: ["shop.*"]\nschema_changes:\n  new_table: ignore\n', False),
        (None, False),  # the built-in pipeline has no include patterns to match
    ],
)
def test_new_tables_are_looked_for_only_when_the_file_captures_them(tmp_path, text, enabled):
    from aladia_etl.core.pipeline import load
    from aladia_etl.core.settings import Settings
    from aladia_etl.processing.capture import NewTables
    from aladia_etl.processing.model import StreamOptions

    options = StreamOptions(engine="spark")
    if text is not None:
        path = tmp_path / "aladia.yaml"
        path.write_text(text)
        options.pipeline = load(path)
        options.schema_changes = options.pipeline.spec.schema_changes.model_dump()
    watch = NewTables(Settings(_env_file=None), options)
    assert watch.enabled is enabled
    if not enabled:
        assert watch.start()._thread is None and watch.found() is None  # nothing reads the source


def test_a_capture_that_failed_is_tried_again_later_and_said_once(caplog):
    from aladia_etl.core.errors import ServiceUnavailable
    from aladia_etl.core.settings import Settings
    from aladia_etl.processing import capture
    from aladia_etl.processing.model import StreamOptions

    watch = capture.NewTables(Settings(_env_file=None), StreamOptions(engine="spark"))
    down = ServiceUnavailable("Kafka Connect is not reachable", "start it")
    with caplog.at_level("WARNING", logger="aladia.stream"):
        watch.refused(down, ("shop.extra",))
        watch.refused(down, ("shop.extra",))
    assert [r.getMessage().count("Kafka Connect is not reachable") for r in caplog.records] == [1]
    assert watch._retry_at["shop.extra"] > capture.time.monotonic() + capture.RETRY_S - 5


def test_a_key_column_widened_widens_the_tombstones_and_keeps_their_positions():
    from aladia_etl.warehouse import ddl

    class Warehouse:
        """The catalog queries the planner asks (fake transport, real planner)."""

        def execute(self, query, params=()):
            table = params[0] if params else ""
            answers = {
                "mirror.shop__items": [("id", "integer"), ("name", "text")],
                "aladia_staging.mirror__shop__items": [("id", "bigint"), ("name", "text")],
                "aladia_deleted.mirror__shop__items": [("id", "integer"), ("source_commit_lsn", "bigint")],
            }

            class Rows:
                def fetchall(inner):
                    return answers.get(table, [])

                def fetchone(inner):
                    return (["id"],) if query is ddl.KEY_OF else None

            return Rows()

    wide = replace(sink("id", "name"), deletes="hard")
    changes = ddl._plan_sink(Warehouse(), wide)
    actions = [(c.action, c.destructive) for c in changes]
    assert ("widen", False) in actions and not any(d for _, d in actions)
    (tombstones,) = [c for c in changes if c.table.endswith("tombstones")]
    assert tombstones.sql == (f"ALTER TABLE {ddl.tombstones_name(wide)} ALTER COLUMN id TYPE bigint",)


def test_a_narrowed_timestamp_is_not_kept_since_its_precision_decides_how_values_are_read():
    source = {"at": ("timestamp(3) without time zone", "timestamp")}  # now sent in milliseconds
    have = {"at": "timestamp without time zone"}  # the warehouse's, read in microseconds
    planned = plan(FakeWarehouse(["id", "at"], have), (sink("id", "at", types=source),))
    assert planned.sinks[0].columns[1].sql_type == "timestamp(3) without time zone" and not planned.changes
    # the other way, while running: microseconds read as milliseconds do not fit, and the stream re-plans
    with pytest.raises(ShapeChanged) as info:
        row_mapper(sink("id", "at", types=source))({"id": 1, "at": 1_767_225_600_000_000})
    assert info.value.misfit == ("at",)
