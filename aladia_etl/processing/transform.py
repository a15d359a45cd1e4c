"""A change event → warehouse rows with lineage: the event's source table → every sink that table feeds (a model
table, a mirror: `warehouse.sinks`), each row mapped by the sink's compiled columns (`warehouse.convert`), plus
where the row came from (`warehouse.schema.LINEAGE`). One path for every table: nothing here knows a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aladia_etl.core.errors import RecordError, quote
from aladia_etl.processing.events import ChangeEvent
from aladia_etl.warehouse.mappers import Mappers, builtin_mappers

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PartlyMapped(RecordError):
    """A record that some of its table's sinks map and others reject (a model's rule; the mirror keeps every value):
    the rows of the sinks that map it are applied, and the record is a dead letter for the others — a replay
    applies it to all again (the merge's position guard makes that idempotent)."""

    def __init__(self, reason: str, rows: list[tuple[str, tuple]]) -> None:
        super().__init__(reason)
        self.rows = rows


def transform_all(event: ChangeEvent, mappers: Mappers | None = None) -> list[tuple[str, tuple]]:
    """(sink name, row) for every sink of the event's table. Raises RecordError for what must go to the dead-letter
    queue (PartlyMapped, with the rows of the sinks that did map it, when only some reject it)."""
    targets = (mappers if mappers is not None else builtin_mappers())._by_table.get((event.schema, event.table))
    if not targets:
        name = event.table if event.schema == "public" else f"{event.schema}.{event.table}"
        raise RecordError(f"no warehouse mapping for table {quote(name)}")
    lineage = (
        event.is_delete,
        event.commit_lsn,
        event.lsn,
        _EPOCH + timedelta(milliseconds=event.ts_ms),
        event.topic,
        event.partition,
        event.offset,
    )
    row = event.row
    if len(targets) == 1:  # the common case, without the loop
        target = targets[0]
        return [(target.name, (target.delete(row) if event.is_delete else target.map(row)) + lineage)]
    mapped: list[tuple[str, tuple]] = []
    rejected: list[str] = []
    for t in targets:
        try:
            mapped.append((t.name, (t.delete(row) if event.is_delete else t.map(row)) + lineage))
        except RecordError as exc:
            rejected.append(f"{t.name}: {exc.reason}")
    if rejected:
        raise PartlyMapped("; ".join(rejected), mapped)
    return mapped


def transform(event: ChangeEvent, mappers: Mappers | None = None) -> tuple[str, tuple]:
    """The row of the event's first sink (one sink per table in the built-in pipeline)."""
    return transform_all(event, mappers)[0]
