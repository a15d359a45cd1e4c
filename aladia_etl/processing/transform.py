"""A change event → (source table, warehouse row with lineage): the warehouse's row mapping plus where the row
came from (`is_deleted, source_lsn, source_ts, kafka_topic, kafka_partition, kafka_offset`)."""

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
        event.lsn,
        _EPOCH + timedelta(milliseconds=event.ts_ms),
        event.topic,
        event.partition,
        event.offset,
    )
    return table, values + lineage
