"""A change event → warehouse rows with lineage: the event's source table → every sink that table feeds (a model
table, a mirror: `warehouse.sinks`), each row mapped by the sink's compiled columns (`warehouse.convert`), plus
where the row came from (`warehouse.schema.LINEAGE`). One path for every table: nothing here knows a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aladia_etl.core.errors import RecordError, quote
from aladia_etl.processing.events import ChangeEvent
from aladia_etl.warehouse.mappers import Mappers, builtin_mappers

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def transform_all(event: ChangeEvent, mappers: Mappers | None = None) -> list[tuple[str, tuple]]:
    """(sink name, row) for every sink of the event's table. Raises RecordError for what must go to the dead-letter
    queue: a record is applied to all its sinks, or to none."""
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
    if event.is_delete:
        return [(t.name, t.delete(row) + lineage) for t in targets]
    return [(t.name, t.map(row) + lineage) for t in targets]


def transform(event: ChangeEvent, mappers: Mappers | None = None) -> tuple[str, tuple]:
    """The row of the event's first sink (one sink per table in the built-in pipeline)."""
    return transform_all(event, mappers)[0]
