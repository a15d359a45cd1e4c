"""How every command reaches the stack's components: one PostgreSQL connect helper and one Kafka client factory.

No network call happens at import or construction time of anything else; these functions are the only places
that open a connection, with short timeouts and errors that name the server and the fix.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aladia_etl.core.errors import ServiceUnavailable
from aladia_etl.core.settings import Settings


# -- PostgreSQL ----------------------------------------------------------------------------------------------
def postgres_unavailable(settings: Settings, dbname: str, exc: BaseException) -> ServiceUnavailable:
    pg = settings.postgres
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ServiceUnavailable(
        f"PostgreSQL is not reachable at {pg.host}:{pg.port} (database {dbname}): {text}",
        "start it with 'aladia up' or set ALADIA_POSTGRES__HOST/PORT/USER/PASSWORD",
    )


def connect(settings: Settings, dbname: str, autocommit: bool = False, **extra: Any):
    """A psycopg connection to `dbname` on the configured server (the password never enters a string)."""
    import psycopg

    try:
        return psycopg.connect(**settings.postgres.conninfo(dbname, **extra), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise postgres_unavailable(settings, dbname, exc) from None


def connect_conninfo(conninfo: dict[str, Any], autocommit: bool = False):
    """A connection from plain keyword arguments (`PostgresSettings.conninfo`): what executors and DoFns get,
    since settings objects are not shipped to workers."""
    import psycopg

    return psycopg.connect(**conninfo, autocommit=autocommit)


# -- Kafka ---------------------------------------------------------------------------------------------------
def quiet_kafka_logging() -> None:
    """kafka-python logs connection failures at ERROR; callers report them instead."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def kafka_unavailable(bootstrap_servers: str, exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Kafka is not reachable at {bootstrap_servers} ({type(exc).__name__})",
        "start it with 'aladia up' or set ALADIA_KAFKA__BOOTSTRAP_SERVERS",
    )


def kafka_client(kind: str, bootstrap_servers: str, timeout_ms: int = 5000, **config):
    """A kafka-python client (`KafkaConsumer`, `KafkaProducer`, `KafkaAdminClient`) with a short bootstrap wait
    (kafka-python blocks 30 s by default when no broker answers)."""
    import kafka
    from kafka.errors import KafkaError

    quiet_kafka_logging()
    config.setdefault("client_id", "aladia")
    try:
        return getattr(kafka, kind)(bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=timeout_ms, **config)
    except KafkaError as exc:
        raise kafka_unavailable(bootstrap_servers, exc) from None


def admin(settings: Settings, timeout_ms: int = 5000, request_timeout_ms: int = 10000):
    return kafka_client(
        "KafkaAdminClient", settings.kafka.bootstrap_servers, timeout_ms, request_timeout_ms=request_timeout_ms
    )


def consumer(settings: Settings, timeout_ms: int = 5000, **config):
    return kafka_client("KafkaConsumer", settings.kafka.bootstrap_servers, timeout_ms, **config)


def producer(settings: Settings, timeout_ms: int = 5000, **config):
    return kafka_client("KafkaProducer", settings.kafka.bootstrap_servers, timeout_ms, **config)


@contextlib.contextmanager
def closing(client):
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()
