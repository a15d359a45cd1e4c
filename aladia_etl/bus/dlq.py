"""The dead-letter topic: the original record bytes, with the reason and origin in headers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

DEFAULT_TOPIC = "aladia.dlq"


def publish(kafka_config: dict | str, topic: str, dead_letters: Iterable[Any]) -> int:
    """Send each dead letter (key and value unchanged) and wait for the broker's acknowledgement."""
    from aladia_etl.stack.connections import kafka_client

    # a dead letter keeps the record's bytes: a record of a row with large values is several MB
    producer = kafka_client(
        "KafkaProducer",
        kafka_config,
        10000,
        acks="all",
        client_id="aladia-dlq",
        max_request_size=16 * 1024 * 1024,
    )
    sent = 0
    try:
        futures = []
        for d in dead_letters:
            headers = [
                ("aladia.reason", d.reason.encode()),
                ("aladia.topic", d.topic.encode()),
                ("aladia.partition", str(d.partition).encode()),
                ("aladia.offset", str(d.offset).encode()),
            ]
            futures.append(producer.send(topic, key=d.key, value=d.value, headers=headers))
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
            sent += 1
    finally:
        producer.close(timeout=5)
    return sent
