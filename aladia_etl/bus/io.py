"""`aladia consume` and `aladia produce`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from aladia_etl.bus.envelope import summarize
from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings
from aladia_etl.stack.connections import closing, consumer, producer


def consume(
    settings: Settings,
    topic: str,
    from_beginning: bool = False,
    max_messages: int | None = None,
    timeout_s: float = 5.0,
) -> Iterator[dict]:
    """Yield summaries of the topic's records until `max_messages` or `timeout_s` without a new record."""
    from kafka import TopicPartition

    with closing(consumer(settings, enable_auto_commit=False, group_id=None)) as c:
        partitions = c.partitions_for_topic(topic)
        if not partitions:
            raise AladiaError(
                f"topic {topic} does not exist on {settings.kafka.bootstrap_servers}",
                "list topics with 'aladia topics'",
            )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        c.assign(tps)
        (c.seek_to_beginning if from_beginning else c.seek_to_end)(*tps)
        seen = 0
        idle_since = time.monotonic()
        while max_messages is None or seen < max_messages:
            batch = c.poll(timeout_ms=200, max_records=500)
            if not batch:
                if time.monotonic() - idle_since >= timeout_s:
                    return
                continue
            idle_since = time.monotonic()
            for records in batch.values():
                for record in records:
                    yield summarize(record.topic, record.partition, record.offset, record.key, record.value)
                    seen += 1
                    if max_messages is not None and seen >= max_messages:
                        return


def produce_samples(settings: Settings, topic: str, count: int) -> dict:
    if count < 1:
        raise AladiaError("--count must be at least 1", "e.g. --count 10")
    with closing(producer(settings, acks="all", linger_ms=5)) as p:
        futures = []
        for i in range(count):
            value = {"sample": True, "n": i, "produced_at": datetime.now(UTC).isoformat()}
            futures.append(p.send(topic, key=str(i).encode(), value=json.dumps(value).encode()))
        p.flush(timeout=30)
        offsets = [f.get(timeout=30) for f in futures]
    return {"topic": topic, "count": count, "first_offset": offsets[0].offset, "last_offset": offsets[-1].offset}
