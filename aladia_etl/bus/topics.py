"""Every Kafka topic name aladia uses, in one place: the CDC topics Debezium writes, the dead-letter topic, and
the topics that are internal (Kafka's own, Kafka Connect's)."""

from __future__ import annotations

import re

from aladia_etl.core.settings import Settings
from aladia_etl.source.schema import CAPTURED_TABLES
from aladia_etl.stack.connect import INTERNAL_TOPIC_PREFIX

DLQ_TOPIC = "aladia.dlq"
INTERNAL_PREFIXES = ("__", INTERNAL_TOPIC_PREFIX)


def cdc_topic(settings: Settings, table: str) -> str:
    """Debezium's topic for a source table: <topic.prefix>.<schema>.<table>."""
    return f"{settings.cdc.topic_prefix}.public.{table}"


def cdc_topics(settings: Settings, tables: tuple[str, ...] = CAPTURED_TABLES) -> list[str]:
    return [cdc_topic(settings, t) for t in tables]


def cdc_pattern(settings: Settings, tables: tuple[str, ...] = CAPTURED_TABLES) -> str:
    """A regular expression matching exactly the CDC topics (Spark's `subscribePattern`)."""
    prefix = re.escape(f"{settings.cdc.topic_prefix}.public.")
    return f"{prefix}({'|'.join(re.escape(t) for t in tables)})"


def table_of(topic: str) -> str:
    """orders_db.public.orders → orders."""
    return topic.rsplit(".", 1)[-1]


def is_internal(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIXES)
