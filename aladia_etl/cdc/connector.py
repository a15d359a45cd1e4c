"""The Debezium PostgreSQL connector configuration aladia registers, and its masking for display."""

from __future__ import annotations

from aladia_etl.core import versions
from aladia_etl.core.settings import Settings
from aladia_etl.source import schema

SECRET_KEYS = ("database.password", "connection.password")
MASK = "********"


def build_config(
    settings: Settings,
    tables: tuple[str, ...] = schema.CAPTURED_TABLES,
    database_host: str | None = None,
    schemas: bool = False,
) -> dict[str, str]:
    pg, cdc = settings.postgres, settings.cdc
    unknown = [t for t in tables if t not in schema.CAPTURED_TABLES]
    if unknown:
        from aladia_etl.core.errors import UsageError

        raise UsageError(
            f"--tables: unknown table(s) {', '.join(unknown)}", f"choose from {', '.join(schema.CAPTURED_TABLES)}"
        )
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
        "table.include.list": ",".join(f"public.{t}" for t in tables),
        "snapshot.mode": "initial",
        "decimal.handling.mode": "string",
        "time.precision.mode": "adaptive_time_microseconds",
        "tombstones.on.delete": "true",
        # Hand batches to Kafka every 100 ms instead of the default 500 ms when the queue is not full:
        # capture latency at moderate rates is dominated by this wait.
        "poll.interval.ms": "100",
        "heartbeat.interval.ms": str(cdc.heartbeat_interval_ms),
        "heartbeat.action.query": schema.heartbeat_query(),
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": str(schemas).lower(),
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": str(schemas).lower(),
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": str(cdc.topic_partitions),
        # whatever the broker's default: compaction would delete changes before they are applied, unnoticed
        "topic.creation.default.cleanup.policy": "delete",
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
