"""No silent loss: the position each engine resumes from (the offsets applied to the warehouse, and the topic id they
were applied from) must still exist in Kafka. If records were deleted before they were applied, or a topic was
deleted and created again (its id changed, or the position is past its end), the stream stops with one line naming
the partition and the range — unless the user accepted data loss, in which case the gap is recorded in
`pipeline_gaps` and the position moves to what Kafka still has, in one transaction.

The gap check and the positions a stream starts from come from one read of Kafka's offsets (`resume_positions`):
a segment deleted between two reads cannot be skipped unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aladia_etl.bus.offsets import Gap, PartitionOffsets, gaps, partition_offsets
from aladia_etl.bus.topics import cdc_topics
from aladia_etl.core.errors import DataLoss
from aladia_etl.core.settings import Settings
from aladia_etl.warehouse import loader

if TYPE_CHECKING:
    from psycopg import Connection


def data_loss(found: list[Gap]) -> DataLoss:
    more = f" (and {len(found) - 1} more partition(s))" if len(found) > 1 else ""
    return DataLoss(
        f"data loss: {found[0].describe()}{more}",
        "find out why (retention shorter than the pipeline's downtime? a topic deleted?), then rerun with "
        "--accept-data-loss to record the gap in the warehouse and continue",
    )


@dataclass
class Resume:
    starts: dict[tuple[str, int], int] = field(default_factory=dict)  # where to read each partition from
    topic_ids: dict[str, str] = field(default_factory=dict)
    recorded: list[Gap] = field(default_factory=list)  # gaps accepted (--accept-data-loss) and recorded now
    offsets: list[PartitionOffsets] = field(default_factory=list)  # the one read they come from

    @property
    def topic_recreated(self) -> bool:
        return any(g.kind != "deleted" for g in self.recorded)


def resume_positions(
    settings: Settings, conn: Connection, consumer, engine: str, accept: bool, accept_recreated: bool = True
) -> Resume:
    """Read Kafka's offsets once; raise DataLoss for a gap against the warehouse's positions (or record it and move
    past it when `accept`; a recreated topic only when `accept_recreated` too); return, from the same read, where
    each partition resumes."""
    offsets = partition_offsets(consumer, cdc_topics(settings))
    applied = loader.applied_offsets(conn, engine)
    found = gaps(offsets, applied, loader.topic_ids(conn, engine), loader.held_offsets(conn, engine))
    if found:
        if not accept:
            raise data_loss(found)
        if not accept_recreated and any(g.kind != "deleted" for g in found):
            error = data_loss(found)
            error.fix = "restart the stream with --accept-data-loss: it records the gap, starts over on the new topic"
            raise error
        loader.record_gaps(conn, engine, found)
        applied = {**applied, **{(g.topic, g.partition): g.resume_at for g in found}}
    ids = {o.topic: o.topic_id for o in offsets if o.topic_id}
    loader.remember_topic_ids(conn, engine, ids)
    starts = {o.key: max(applied.get(o.key, 0), o.begin) for o in offsets}
    # after a --from-beginning rewind, records before the log start were applied (no gap): continue from there
    loader.skip_applied(conn, engine, {k: s for k, s in starts.items() if k in applied and applied[k] < s})
    return Resume(starts, ids, found, offsets)


def check_continuity(settings: Settings, conn: Connection, consumer, engine: str, accept: bool) -> list[Gap]:
    """Raise DataLoss for a gap, or record it (and move past it) when `accept`; returns the gaps recorded."""
    return resume_positions(settings, conn, consumer, engine, accept).recorded
