"""Schema changes of mirrored tables: what a record of a changed shape does (never a dead letter, never applied), and
what the planner decides per policy from the source catalog, the warehouse table and what the records showed."""

from __future__ import annotations

import pytest

from aladia_etl.core.errors import ConfigError, SchemaDrift, ShapeChanged
from aladia_etl.processing.bundle import process
from aladia_etl.warehouse.evolution import plan
from aladia_etl.warehouse.row_mapping import row_mapper
from aladia_etl.warehouse.sinks import Sink, SinkColumn
from aladia_etl.warehouse.staging import StageStats
from tests import factories


def sink(*columns: str, known: tuple[str, ...] | None = None, optional: tuple[str, ...] = ()) -> Sink:
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
                "bigint" if c == "id" else "text",
                "int8" if c == "id" else "text",
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

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns

    def execute(self, query, params):
        class Rows:
            def fetchall(inner):
                return [(c, "text") for c in self.columns]

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
    from aladia_etl.processing.loop import _backfill
    from aladia_etl.processing.model import StreamProgress

    def refuse(settings, tables, where=None, merge=False):
        assert merge  # a stream does not wait for a snapshot the user started
        raise UsageError("shop.items has no primary key: Debezium reads a table in chunks ordered by it", "add one")

    monkeypatch.setattr(snapshots, "request", refuse)
    progress = StreamProgress("spark")
    _backfill(Settings(_env_file=None), ("shop.items",), progress, {})
    assert progress.notes and "no primary key" in progress.notes[0]
    assert "aladia cdc snapshot shop.items" in progress.notes[0]
