"""Reading Kafka records by explicit offsets: the one way aladia's engines read what Spark's own Kafka source
does not (Beam's DoFns). No consumer group and no `auto_offset_reset` fallback: a position that does not exist
is an error, and a broker that stops answering is an error after a deadline, never a silent jump or a hang."""

from __future__ import annotations

import time
from collections.abc import Iterator

from aladia_etl.core.errors import DataLoss, ServiceUnavailable
from aladia_etl.stack.connections import kafka_client

Record = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value

# kafka-python verifies record CRCs in pure Python (about 10k records/s on this machine, 68k/s without);
# the broker has validated them on produce and TCP checksums the loopback hop.
READ_CONFIG = {
    "check_crcs": False,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
}


def range_consumer(kafka_config: dict | str, client_id: str = "aladia-reader", **config):
    """`kafka_config`: `KafkaSettings.client()` (or a bootstrap string). A reader never creates a topic: asking
    about one that was deleted (its metadata refreshed) must not bring it back on a broker that auto-creates."""
    return kafka_client(
        "KafkaConsumer",
        kafka_config,
        10_000,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        allow_auto_create_topics=False,
        client_id=client_id,
        **{**READ_CONFIG, **config},
    )


def read_range(
    consumer, topic: str, partition: int, start: int, end: int, chunk_size: int = 10_000, timeout_s: float = 60.0
) -> Iterator[list[Record]]:
    """The records of [start, end) of one partition, in chunks of at most `chunk_size`."""
    from kafka import TopicPartition
    from kafka.errors import OffsetOutOfRangeError

    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, start)
    chunk: list[Record] = []
    deadline = time.monotonic() + timeout_s
    position = start
    while position < end:
        try:
            batch = consumer.poll(timeout_ms=1000, max_records=chunk_size)
        except OffsetOutOfRangeError:
            raise DataLoss(
                f"offsets from {position} of {topic}[{partition}] are no longer in Kafka (deleted by retention, or "
                "the topic was recreated) and were not applied",
                "see 'aladia topics'; rerun with --accept-data-loss to record the gap and continue",
            ) from None
        if not batch:
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"Kafka returned nothing for {topic}[{partition}] at offset {position} (expected records up to "
                    f"{end}) within {timeout_s:.0f} s",
                    "check the broker with 'aladia status'",
                )
            continue
        deadline = time.monotonic() + timeout_s
        for records in batch.values():
            for r in records:
                if r.offset >= end:
                    break
                chunk.append((r.topic, r.partition, r.offset, r.key, r.value))
        position = consumer.position(tp)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def poll_from(consumer, topic: str, partition: int, position: int, max_records: int, timeout_ms: int = 100):
    """One poll of one partition from `position` (no waiting beyond `timeout_ms`): (records, the position after
    them — past any offsets without a record —, the partition's high-water mark or None, the newest record's
    timestamp in ms or None)."""
    from kafka import TopicPartition
    from kafka.errors import OffsetOutOfRangeError

    tp = TopicPartition(topic, partition)
    if consumer.assignment() != {tp}:
        consumer.assign([tp])
        consumer.seek(tp, position)
    elif consumer.position(tp) != position:
        consumer.seek(tp, position)  # only then: a seek drops what the consumer has prefetched
    try:
        batch = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
    except OffsetOutOfRangeError:
        raise DataLoss(
            f"offsets from {position} of {topic}[{partition}] are no longer in Kafka (deleted by retention, or "
            "the topic was recreated) and were not applied",
            "see 'aladia topics'; rerun with --accept-data-loss to record the gap and continue",
        ) from None
    fetched = batch.get(tp, ())
    records = [(r.topic, r.partition, r.offset, r.key, r.value) for r in fetched]
    after = consumer.position(tp) if records else position
    newest = max((r.timestamp for r in fetched), default=None)
    return records, after, consumer.highwater(tp), newest
