"""A Kafka source written as a Python splittable DoFn (no Java, no expansion service).

Each element is one topic partition with the offset to start from (the warehouse's applied offset); its
restriction is the open-ended offset range [start, ∞). A call reads the partition through `bus.reader`, claims each
chunk's offsets and emits the chunk — the records and the exact range [start, end) they cover (past offsets with no
record too) — then checkpoints itself (`defer_remainder`): at once while there is more to read, after a short wait
when the partition has nothing new. The watermark follows the records' Kafka timestamps (their commit times, give or
take Debezium's capture latency); the backlog (high-water mark − position) sizes the restriction.

Runner-initiated splits of the open range are refused (they would cut it near 2**62): only checkpoints split it.
A stop request (the stream's control row, `RunControl`) makes the call claim the end of its range, so the pipeline
finishes after applying what was emitted. The step may run in any worker process: what it keeps (its consumers,
the high-water marks that size its restrictions) is its own process's.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.utils.timestamp import Duration, Timestamp

from aladia_etl.processing.beam.control import RunControl, RunSpec

# topic, partition, start offset, the topic's id when the start was read (None: unknown)
Partition = tuple[str, int, int, str | None]
OPEN_END = sys.maxsize
_HIGHWATER: dict[tuple[str, int], int] = {}  # this worker process's last high-water mark per partition


class CheckpointOnlyTracker(OffsetRestrictionTracker):
    def try_split(self, fraction_of_remainder):
        if fraction_of_remainder != 0:
            return None  # a dynamic split of [start, ∞) would start its residual near 2**62
        return super().try_split(fraction_of_remainder)

    def is_bounded(self) -> bool:
        return self.current_restriction().stop != OPEN_END


class _PartitionRestrictions(RestrictionProvider):
    def initial_restriction(self, element: Partition) -> OffsetRange:
        return OffsetRange(element[2], OPEN_END)

    def create_tracker(self, restriction: OffsetRange) -> CheckpointOnlyTracker:
        return CheckpointOnlyTracker(restriction)

    def restriction_size(self, element: Partition, restriction: OffsetRange) -> int:
        """The backlog: what Kafka holds beyond the restriction's start (1 when nothing is known yet)."""
        end = _HIGHWATER.get((element[0], element[1]))
        return max(1, (end or 0) - restriction.start)

    def split(self, element: Partition, restriction: OffsetRange):
        yield restriction


class ReadKafkaPartition(beam.DoFn):
    """(topic, partition, start, topic id) → chunks `{"topic", "partition", "start", "end", "records"}`,
    unbounded. A topic whose id changes under the reader (deleted and created again) fails the stream: its offsets
    would mean other records."""

    def __init__(self, spec: RunSpec, kafka_config: dict | str, chunk: int, idle_s: float = 0.05) -> None:
        self.spec = spec
        self.kafka_config = kafka_config  # `KafkaSettings.client()`: the brokers and how to reach them
        self.chunk = chunk
        self.idle_s = idle_s
        self.call_budget_s = 0.5  # a chunk reaches the next step only when its call ends

    def setup(self) -> None:
        self.consumers: dict[tuple[str, int], Any] = {}  # kafka-python's KafkaConsumer (untyped)
        self.control = RunControl(self.spec)
        self.outage = self.control.outage("Kafka (reading)", "source", shared=True)

    def _consumer(self, topic: str, partition: int):
        from aladia_etl.bus.reader import range_consumer

        key = (topic, partition)
        if key not in self.consumers:
            self.consumers[key] = range_consumer(
                self.kafka_config,
                client_id="aladia-beam-source",
                fetch_max_wait_ms=100,
                metadata_max_age_ms=5000,  # a topic's new id (deleted and created again) is seen within seconds
            )
        return self.consumers[key]

    def _forget(self, topic: str, partition: int) -> None:
        consumer = self.consumers.pop((topic, partition), None)
        if consumer is not None:
            consumer.close()

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: Partition,
        tracker=beam.DoFn.RestrictionParam(_PartitionRestrictions()),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ):
        from aladia_etl.bus.offsets import topic_id
        from aladia_etl.bus.reader import poll_from
        from aladia_etl.core.errors import DataLoss

        topic, partition, _, expected_id = element
        position = tracker.current_restriction().start
        deadline = time.monotonic() + self.call_budget_s
        while True:
            if self.control.stopping():
                tracker.try_claim(tracker.current_restriction().stop)  # done: no residual, the pipeline can finish
                return
            try:
                records, after, highwater, newest = poll_from(
                    self._consumer(topic, partition), topic, partition, position, self.chunk
                )
            except DataLoss as exc:
                self.control.fail(exc)
                tracker.try_claim(tracker.current_restriction().stop)
                return
            except Exception as exc:  # noqa: BLE001 - the broker away: retried after a backoff, reported meanwhile
                self._forget(topic, partition)
                try:
                    wait = self.outage.failed(exc)
                except BaseException as fatal:  # noqa: BLE001 - recorded: the launching process raises it
                    self.control.fail(fatal)
                    wait = 0.0
                tracker.defer_remainder(Duration.of(wait))
                return
            if highwater is not None:
                _HIGHWATER[(topic, partition)] = highwater
            self.outage.recovered()
            current_id = topic_id(self._consumer(topic, partition), topic)
            if expected_id and current_id and current_id != expected_id:
                self.control.fail(
                    DataLoss(
                        f"data loss: {topic} was deleted and created again under the running stream (topic id "
                        f"{expected_id} is now {current_id})",
                        "restart the stream with --accept-data-loss: it records the gap and starts over on the new "
                        "topic",
                    ),
                )
                tracker.try_claim(tracker.current_restriction().stop)
                return
            if not records:
                tracker.defer_remainder(Duration.of(self.idle_s))
                return
            if not tracker.try_claim(after - 1):
                return
            current = watermark.current_watermark()
            if newest is not None and (current is None or Timestamp.of(newest / 1000) > current):
                watermark.set_watermark(Timestamp.of(newest / 1000))
            yield {"topic": topic, "partition": partition, "start": position, "end": after, "records": records}
            position = after
            # a chunk reaches the next step only when the call ends: at once when it caught up with the partition
            caught_up = highwater is not None and after >= highwater
            if caught_up or time.monotonic() >= deadline:
                tracker.defer_remainder(Duration.of(0))
                return

    def teardown(self) -> None:
        for consumer in self.consumers.values():
            consumer.close()
