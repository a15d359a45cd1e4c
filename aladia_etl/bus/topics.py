"""Every Kafka topic name aladia uses, in one place: the CDC topics Debezium writes, the dead-letter topic, and
the topics that are internal (Kafka's own, Kafka Connect's)."""

from __future__ import annotations

import re

from aladia_etl.core.settings import Settings
from aladia_etl.stack.connect import INTERNAL_TOPIC_PREFIX

DLQ_TOPIC = "aladia.dlq"
INTERNAL_PREFIXES = ("__", INTERNAL_TOPIC_PREFIX)


_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _qualified(table: str) -> str:
    return table if "." in table else f"public.{table}"


def cdc_topic(settings: Settings, table: str) -> str:
    """Debezium's topic for a source table (`schema.table`, or a table of `public`): <topic.prefix>.<schema>.<table>,
    with every character a topic name cannot hold replaced by '_' (as Debezium does)."""
    return _TOPIC_UNSAFE.sub("_", f"{settings.cdc.topic_prefix}.{_qualified(table)}")


def cdc_topics(settings: Settings, tables: tuple[str, ...] | None = None) -> list[str]:
    """The topics of the captured tables (the pipeline's, `Settings.capture`), or of `tables`."""
    return [cdc_topic(settings, t) for t in (settings.capture if tables is None else tables)]


def cdc_pattern(settings: Settings, tables: tuple[str, ...] | None = None) -> str:
    """A regular expression matching exactly the CDC topics (Spark's `subscribePattern`)."""
    chosen = [_qualified(t) for t in (settings.capture if tables is None else tables)]
    if all(t.startswith("public.") for t in chosen):  # the form checkpoints of the built-in pipeline are named for
        prefix = re.escape(f"{settings.cdc.topic_prefix}.public.")
        return f"{prefix}({'|'.join(re.escape(_TOPIC_UNSAFE.sub('_', t.removeprefix('public.'))) for t in chosen)})"
    return "|".join(re.escape(cdc_topic(settings, t)) for t in chosen)


def table_of(topic: str) -> str:
    """orders_db.public.orders → orders."""
    return topic.rsplit(".", 1)[-1]


def is_internal(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIXES)
