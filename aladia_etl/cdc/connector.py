"""The Debezium PostgreSQL connector configuration aladia registers, and its masking for display."""

from __future__ import annotations

import re

from aladia_etl.core import versions
from aladia_etl.core.settings import Settings
from aladia_etl.source import schema

SECRET_KEYS = ("database.password", "connection.password")
MASK = "********"


def check_tables(tables: tuple[str, ...]) -> tuple[str, ...]:
    """`cdc register --tables` of the built-in pipeline: names of its tables."""
    unknown = [t for t in tables if t not in schema.CAPTURED_TABLES]
    if unknown:
        from aladia_etl.core.errors import UsageError

        raise UsageError(
            f"--tables: unknown table(s) {', '.join(unknown)}", f"choose from {', '.join(schema.CAPTURED_TABLES)}"
        )
    return tables


def include_list(tables: tuple[str, ...]) -> str:
    """Debezium's `table.include.list`: a comma-separated list of regular expressions matched against whole
    `schema.table` names; each name's parts, and the dot between them, are escaped (a table named `a.b` or
    `Mixed$Case` means itself, and `public.t` does not match `publicXt`)."""
    out = []
    for table in tables:
        schema_name, _, name = table.partition(".") if "." in table else ("public", "", table)
        out.append(r"\.".join(re.sub(r"([^A-Za-z0-9_])", r"\\\1", part) for part in (schema_name, name)))
    return ",".join(out)


def notification_topic(prefix: str) -> str:
    """The topic Debezium writes its notifications to (incremental snapshot progress)."""
    return f"{prefix}.aladia_notifications"


def build_config(
    settings: Settings,
    tables: tuple[str, ...] = schema.CAPTURED_TABLES,
    database_host: str | None = None,
    schemas: bool = False,
) -> dict[str, str]:
    """`tables`: names of the built-in pipeline's tables, or `schema.table` names (a pipeline file's)."""
    check_tables(tuple(t for t in tables if "." not in t))
    pg, cdc = settings.postgres, settings.cdc
    return {
        "connector.class": versions.POSTGRES_CONNECTOR_CLASS,
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": database_host or pg.host,
        "database.port": str(pg.port),
        "database.user": pg.user,
        "database.password": pg.password.get_secret_value(),
        "database.dbname": pg.source_db,
        "topic.prefix": cdc.topic_prefix,
        "publication.name": cdc.publication,
        "publication.autocreate.mode": "disabled",
        "slot.name": cdc.slot_name,
        "table.include.list": include_list(tables),
        "snapshot.mode": "initial",
        # values that arrive exactly: decimals as strings, times in microseconds, intervals as ISO 8601 strings,
        # binary as base64
        "decimal.handling.mode": "string",
        "interval.handling.mode": "string",
        "binary.handling.mode": "base64",
        "time.precision.mode": "adaptive_time_microseconds",
        "tombstones.on.delete": "true",
        # Hand batches to Kafka every 100 ms instead of the default 500 ms when the queue is not full:
        # capture latency at moderate rates is dominated by this wait.
        "poll.interval.ms": "100",
        "heartbeat.interval.ms": str(cdc.heartbeat_interval_ms),
        "heartbeat.action.query": schema.heartbeat_query(),
        # `aladia cdc snapshot`: incremental snapshots requested through the signalling table (its watermarks
        # deduplicate snapshot rows against the live stream); their progress is written to a notification topic
        "signal.data.collection": f"public.{schema.SIGNAL_TABLE}",
        "signal.enabled.channels": "source",
        "incremental.snapshot.chunk.size": str(cdc.snapshot_chunk_size),
        "notification.enabled.channels": "sink",
        "notification.sink.topic.name": notification_topic(cdc.topic_prefix),
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": str(schemas).lower(),
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": str(schemas).lower(),
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": str(cdc.topic_partitions),
        # whatever the broker's default: compaction would delete changes before they are applied, unnoticed
        "topic.creation.default.cleanup.policy": "delete",
        # TLS to the source as aladia's own connections (paths as the Connect worker sees them)
        **(pg.debezium() if pg.sslmode != "prefer" or pg.sslrootcert or pg.sslcert else {}),
    }


def masked(config: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if k in SECRET_KEYS or "password" in k else v) for k, v in config.items()}


def validation_errors(result: dict) -> list[tuple[str, str]]:
    """(field, message) for every field error in a /config/validate answer."""
    errors = []
    for entry in result.get("configs", []):
        value = entry.get("value") or {}
        for message in value.get("errors", []) or []:
            errors.append((value.get("name", "?"), message))
    return errors
