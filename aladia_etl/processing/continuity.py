"""No silent loss: before a batch, the position each engine resumes from (the offsets applied to the warehouse) must
still exist in Kafka. If records were deleted before they were applied, or a topic was recreated, the stream
stops with one line naming the partition and the range — unless the user accepted data loss, in which case the
gap is recorded in `pipeline_gaps` and the position moves to what Kafka still has, in one transaction."""

from __future__ import annotations

from aladia_etl.bus.offsets import Gap, gaps, partition_offsets
from aladia_etl.bus.topics import cdc_topics
from aladia_etl.core.errors import DataLoss
from aladia_etl.core.settings import Settings
from aladia_etl.warehouse import loader


def data_loss(found: list[Gap]) -> DataLoss:
    more = f" (and {len(found) - 1} more partition(s))" if len(found) > 1 else ""
    return DataLoss(
        f"data loss: {found[0].describe()}{more}",
        "find out why (retention shorter than the pipeline's downtime?), then rerun with --accept-data-loss to "
        "record the gap in the warehouse and continue",
    )


def check_continuity(settings: Settings, conn, consumer, engine: str, accept: bool) -> list[Gap]:
    """Raise DataLoss for a gap, or record it (and move past it) when `accept`; returns the gaps recorded."""
    found = gaps(partition_offsets(consumer, cdc_topics(settings)), loader.applied_offsets(conn, engine))
    if not found:
        return []
    if not accept:
        raise data_loss(found)
    loader.record_gaps(conn, engine, found)
    return found
