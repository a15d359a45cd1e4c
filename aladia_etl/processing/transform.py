"""A change event → (source table, warehouse row with lineage): the warehouse's row mapping plus where the row
came from (`warehouse.schema.LINEAGE`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aladia_etl.core.errors import RecordError, quote
from aladia_etl.processing.events import ChangeEvent
from aladia_etl.warehouse.rows import MAPPERS, deleted_values

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def transform(event: ChangeEvent) -> tuple[str, tuple]:
    """Raises RecordError for what must go to the dead-letter queue."""
    table = event.table
    mapper = MAPPERS.get(table)
    if mapper is None:
        raise RecordError(f"no warehouse mapping for table {quote(table)}")
    values = deleted_values(table, event.row) if event.is_delete else mapper(event.row)
    lineage = (
        event.is_delete,
        event.commit_lsn,
        event.lsn,
        _EPOCH + timedelta(milliseconds=event.ts_ms),
        event.topic,
        event.partition,
        event.offset,
    )
    return table, values + lineage
