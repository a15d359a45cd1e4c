"""Which partitions the streaming pipeline reads, found while it runs: a topic Debezium creates after the stream
started (a captured table's first change) and partitions added to a topic are read without a restart.

`DiscoverPartitions` is a splittable DoFn that lists the partitions of the stream's topics at once and then every
2 s, until the stream stops; `FirstSight`, a stateful DoFn keyed by partition, passes each partition on
once. A partition known when the stream started reads from the position the gap check gave it; one found later
from its log start when the warehouse has applied nothing of it, else the job fails on purpose and the stream
relaunches it, so that the start's gap check sees it.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import Duration

from aladia_etl.processing.beam.control import RunControl, RunSpec
from aladia_etl.processing.beam.kafka_source import OPEN_END, CheckpointOnlyTracker, Partition


class _Polls(RestrictionProvider):
    """The restriction counts polls: [next poll, ∞)."""

    def initial_restriction(self, element: Any) -> OffsetRange:
        return OffsetRange(0, OPEN_END)

    def create_tracker(self, restriction: OffsetRange) -> CheckpointOnlyTracker:
        return CheckpointOnlyTracker(restriction)

    def restriction_size(self, element: Any, restriction: OffsetRange) -> int:
        return 1

    def split(self, element: Any, restriction: OffsetRange):
        yield restriction


class DiscoverPartitions(beam.DoFn):
    """(any impulse) → ((topic, partition), Partition from its log start) for every partition of `topics`, at every
    poll."""

    def __init__(
        self,
        spec: RunSpec,
        kafka_config: dict | str,
        topics: list[str],
        topic_ids: dict[str, str],
        every_s: float = 2.0,
    ) -> None:
        self.spec = spec
        self.kafka_config = kafka_config
        self.topics = topics
        self.topic_ids = topic_ids
        self.every_s = every_s

    def setup(self) -> None:
        from aladia_etl.bus.reader import range_consumer

        self.control = RunControl(self.spec)
        self.consumer = range_consumer(
            self.kafka_config, client_id="aladia-beam-discovery", metadata_max_age_ms=int(self.every_s * 1000)
        )

    @beam.DoFn.unbounded_per_element()
    def process(self, element, tracker=beam.DoFn.RestrictionParam(_Polls())):
        from aladia_etl.bus.offsets import partition_offsets

        poll = tracker.current_restriction().start
        if self.control.stopping():
            tracker.try_claim(tracker.current_restriction().stop)  # done: the pipeline can finish
            return
        if not tracker.try_claim(poll):
            return
        try:
            found = partition_offsets(self.consumer, self.topics)
        except Exception:  # noqa: BLE001 - Kafka away: the readers report the outage; the next poll tries again
            tracker.defer_remainder(Duration.of(self.every_s))
            return
        for offsets in found:
            topic_id = self.topic_ids.get(offsets.topic) or offsets.topic_id
            partition: Partition = (offsets.topic, offsets.partition, offsets.begin, topic_id)
            yield (offsets.topic, offsets.partition), partition
        tracker.defer_remainder(Duration.of(self.every_s))

    def teardown(self) -> None:
        consumer = getattr(self, "consumer", None)
        if consumer is not None:
            consumer.close()


class FirstSight(beam.DoFn):
    """((topic, partition), Partition) → the Partition with its start, the first time its key is seen: where the
    start's gap check put it, or, for a partition found later, its log start when the warehouse has applied nothing
    of it. One it has applied records of (its topic deleted and created again while the stream was down, say) needs
    that gap check: the job fails on purpose and the stream relaunches it, checking."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())

    def __init__(self, spec: RunSpec, starts: dict[str, int]) -> None:
        self.spec = spec
        self.starts = starts  # "topic/partition" → where the gap check says to start

    def process(self, keyed, seen=beam.DoFn.StateParam(SEEN)):
        from aladia_etl.warehouse import loader
        from aladia_etl.warehouse.staging import worker_connection

        if seen.read():
            return
        (topic, partition), (_, _, begin, topic_id) = keyed
        start = self.starts.get(f"{topic}/{partition}")
        if start is None:
            applied = loader.applied_offsets(worker_connection(self.spec["conninfo"]), self.spec["engine"])
            if (topic, partition) in applied:
                raise RuntimeError(
                    f"{topic}[{partition}] appeared while the stream ran and has applied records: relaunching to "
                    "check it for gaps"
                )
            start = begin
        seen.write(True)
        found: Partition = (topic, partition, start, topic_id)
        yield found
