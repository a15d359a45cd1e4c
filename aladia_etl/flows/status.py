"""`aladia status`: the stack's components, the replication slot and the connector, the streams' published
states, what the streams applied (the warehouse's batch figures) and any data loss the warehouse recorded.

The pieces (`connector_summary`, `slot_info`, `wal_warning`, `pipeline_figures`) are what the health API
(`flows.health`, `aladia serve`) probes too."""

from __future__ import annotations

import logging
from typing import Any

from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar

log = logging.getLogger("aladia.status")


def collect_status(settings: Settings, reporter: Reporter = SILENT) -> dict[str, Any]:
    from aladia_etl.stack.local import LocalStack

    components = LocalStack(settings, reporter).status()
    for c in components:
        log.info(
            "component %s %s",
            c.name,
            "healthy" if c.healthy else "unhealthy",
            extra={"component": c.name, "healthy": c.healthy, "address": c.address, "detail": c.detail},
        )
    by_name = {c.name: c for c in components}
    report: dict[str, Any] = {"components": [c.as_dict() for c in components]}
    cdc: dict[str, Any] = {}
    if by_name["postgres"].healthy:
        from aladia_etl.cdc.service import slot_info

        cdc["slot"] = slot_info(settings)
    if by_name["connect"].healthy:
        cdc["connector"] = connector_summary(settings)
    warning = wal_warning(settings, cdc.get("slot"))
    if warning:
        log.warning(warning, extra={"component": "replication_slot"})
        report.setdefault("warnings", []).append(warning)
    if by_name["kafka"].healthy:
        warning = compaction_warning(settings)
        if warning:
            log.warning(warning, extra={"component": "kafka"})
            report.setdefault("warnings", []).append(warning)
    if by_name["kafka"].healthy and by_name["postgres"].healthy:
        cdc["snapshots"] = _snapshots(settings)
    report["cdc"] = cdc
    from aladia_etl.processing.state import read_streams

    report["streams"] = read_streams(settings)
    if by_name["postgres"].healthy:
        report["pipeline"] = pipeline_figures(settings)
        report["tables"] = table_figures(settings)
        report["gaps"] = _gaps(settings)
    connector = cdc.get("connector")
    cdc_ok = connector is None or (connector["state"] == "RUNNING" and all(t == "RUNNING" for t in connector["tasks"]))
    report["healthy"] = all(c.healthy for c in components) and cdc_ok
    return report


def connector_summary(settings: Settings, timeout: float | None = None) -> dict[str, Any] | None:
    """The configured connector's state and its tasks' states; None when it is not registered. Raises
    ServiceUnavailable when Kafka Connect does not answer."""
    from aladia_etl.cdc.client import ConnectClient

    url = settings.connect
    client = ConnectClient(
        url.url, min(timeout or url.timeout_s, url.timeout_s), display_url=url.display_url, http=url.http()
    )
    answer = client.status(settings.cdc.connector_name)
    if answer is None:
        return None
    return {
        "name": answer.get("name"),
        "state": answer.get("connector", {}).get("state"),
        "tasks": [t.get("state") for t in answer.get("tasks", [])],
    }


def wal_warning(settings: Settings, slot: dict[str, Any] | None) -> str | None:
    """The warning for a replication slot that retains more WAL than ALADIA_CDC__WAL_WARN_BYTES, or None."""
    slot = slot or {}
    if not (slot.get("present") and slot.get("retained_wal_bytes", 0) > settings.cdc.wal_warn_bytes):
        return None
    return (
        f"replication slot {slot['slot']} retains {slot['retained_wal_bytes']:,} bytes of WAL (more than "
        f"ALADIA_CDC__WAL_WARN_BYTES={settings.cdc.wal_warn_bytes:,}): its consumer is not confirming progress"
        " — check 'aladia cdc status'; drop a slot nobody uses with 'aladia cdc delete NAME --drop-slot'"
    )


def compaction_warning(settings: Settings) -> str | None:
    """A warning for CDC topics whose cleanup policy is not `delete` (compaction loses unapplied changes unnoticed)."""
    from aladia_etl.bus.policy import check_cleanup_policies
    from aladia_etl.bus.topics import cdc_topics
    from aladia_etl.core.errors import ConfigError

    try:
        check_cleanup_policies(settings, cdc_topics(settings))
    except ConfigError as exc:
        return str(exc)
    except Exception:  # noqa: BLE001 - a warning must not fail the status
        return None
    return None


def pipeline_figures(settings: Settings) -> list[dict[str, Any]]:
    """What each engine's streams applied, from the warehouse's batch records (the numbers `aladia serve`'s
    /metrics exposes); empty when the warehouse does not answer or has no batches yet."""
    from aladia_etl.core.errors import ServiceUnavailable
    from aladia_etl.warehouse import figures, loader

    try:
        with loader.connect(settings) as conn:
            return [t.as_dict() for t in figures.batch_totals(conn)]
    except ServiceUnavailable:
        return []


def table_figures(settings: Settings) -> list[dict[str, Any]]:
    """Rows each stream applied per warehouse table of the pipeline (empty when the warehouse does not answer)."""
    from aladia_etl.core.errors import ServiceUnavailable
    from aladia_etl.warehouse import figures, loader

    try:
        with loader.connect(settings) as conn:
            rows = figures.table_rows(conn)
    except ServiceUnavailable:
        return []
    return [{"engine": e, "stream": s, "table": t, "rows": n} for (e, s, t), n in rows.items()]


def _gaps(settings: Settings) -> list[dict[str, Any]]:
    """Data loss accepted with --accept-data-loss, newest first (the warehouse may not exist yet)."""
    from aladia_etl.core.errors import ServiceUnavailable
    from aladia_etl.warehouse import loader

    try:
        with loader.connect(settings) as conn:
            if scalar(conn, "SELECT to_regclass('pipeline_gaps')") is None:
                return []
            rows = conn.execute(
                "SELECT engine, topic, partition, from_offset, to_offset, reason, accepted_at FROM pipeline_gaps "
                "ORDER BY accepted_at DESC LIMIT 20"
            ).fetchall()
    except ServiceUnavailable:
        return []
    keys = ("engine", "topic", "partition", "from_offset", "to_offset", "reason", "accepted_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def _snapshots(settings: Settings) -> list[dict[str, Any]]:
    """The last re-snapshots (`aladia cdc snapshot`) and their progress; none when it cannot be read."""
    from aladia_etl.cdc.snapshots import recent

    try:
        return [item.as_dict() for item in recent(settings)]
    except Exception as exc:  # noqa: BLE001 - status reports what it can read; a failed part is logged, not fatal
        log.warning("snapshot progress not readable: %s", exc)
        return []
