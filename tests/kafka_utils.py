"""Reading CDC topics in tests (real Kafka, kafka-python)."""

from __future__ import annotations

import json
import time

from kafka import KafkaConsumer, TopicPartition


def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or [])]
        return consumer.end_offsets(tps) if tps else {}
    finally:
        consumer.close()


def read_range(bootstrap: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> list:
    """Every record from `start` (inclusive) up to `end` (exclusive) per partition."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    out = []
    try:
        wanted = {tp: off for tp, off in end.items() if off > start.get(tp, 0)}
        if not wanted:
            return out
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, start.get(tp, 0))
        remaining = set(wanted)
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset < wanted[tp]:
                        out.append(record)
                if consumer.position(tp) >= wanted[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()
    return out


def read_all(bootstrap: str, topic: str) -> list:
    """Every record the topic holds now, from its first offset of each partition to its end."""
    return read_range(bootstrap, {}, end_offsets(bootstrap, [topic]))


def produce(
    bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None]], partition: int | None = None
) -> list:
    """Send (key, value) pairs (to `partition`, or by key), acknowledged by every replica; returns each message's
    metadata (topic, partition, offset)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic, key=k, value=v, partition=partition) for k, v in messages]
        return [future.get(timeout=30) for future in futures]
    finally:
        producer.close()


def wait_for_records(bootstrap: str, topics: list[str], start: dict, predicate, timeout: float = 60) -> list:
    """Poll the topics from `start` until predicate(records) is true; returns the records."""
    deadline = time.monotonic() + timeout
    records: list = []
    while time.monotonic() < deadline:
        records = read_range(bootstrap, start, end_offsets(bootstrap, topics))
        if predicate(records):
            return records
        time.sleep(0.5)
    return records


def value(record) -> dict | None:
    return None if record.value is None else json.loads(record.value)


def key(record) -> dict | None:
    return None if record.key is None else json.loads(record.key)
