"""Kafka clients with short timeouts and errors that name the bootstrap servers."""

from __future__ import annotations

import contextlib

from aladia_etl.errors import ServiceUnavailable
from aladia_etl.health.checks import quiet_kafka_logging
from aladia_etl.settings import Settings


def _unavailable(settings: Settings, exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Kafka is not reachable at {settings.kafka.bootstrap_servers} ({type(exc).__name__})",
        "start it with 'aladia up' or set ALADIA_KAFKA__BOOTSTRAP_SERVERS",
    )


def admin(settings: Settings, timeout_ms: int = 5000, request_timeout_ms: int = 10000):
    """A KafkaAdminClient with a short bootstrap wait (kafka-python blocks 30 s by default with no broker)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    quiet_kafka_logging()
    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=request_timeout_ms,
            client_id="aladia",
        )
    except KafkaError as exc:
        raise _unavailable(settings, exc) from None


def _client(kind: str, settings: Settings, timeout_ms: int, config: dict):
    import kafka
    from kafka.errors import KafkaError

    quiet_kafka_logging()
    config.setdefault("client_id", "aladia")
    try:
        return getattr(kafka, kind)(
            bootstrap_servers=settings.kafka.bootstrap_servers, bootstrap_timeout_ms=timeout_ms, **config
        )
    except KafkaError as exc:
        raise _unavailable(settings, exc) from None


def consumer(settings: Settings, timeout_ms: int = 5000, **config):
    return _client("KafkaConsumer", settings, timeout_ms, config)


def producer(settings: Settings, timeout_ms: int = 5000, **config):
    return _client("KafkaProducer", settings, timeout_ms, config)


@contextlib.contextmanager
def closing(client):
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()
