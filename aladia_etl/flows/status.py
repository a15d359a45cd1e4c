"""`aladia status`: the stack's components, the replication slot and the connector, the streams' published
states and any data loss the warehouse recorded."""

from __future__ import annotations

from typing import Any

from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings


def collect_status(settings: Settings, reporter: Reporter = SILENT) -> dict[str, Any]:
    from aladia_etl.stack.local import LocalStack

    components = LocalStack(settings, reporter).status()
    by_name = {c.name: c for c in components}
    report: dict[str, Any] = {"components": [c.as_dict() for c in components]}
    cdc: dict[str, Any] = {}
    if by_name["postgres"].healthy:
        from aladia_etl.cdc.service import slot_info

        cdc["slot"] = slot_info(settings)
    if by_name["connect"].healthy:
        from aladia_etl.cdc.service import client_for

        answer = client_for(settings).status(settings.cdc.connector_name)
        cdc["connector"] = (
            None
            if answer is None
            else {
                "name": answer.get("name"),
                "state": answer.get("connector", {}).get("state"),
                "tasks": [t.get("state") for t in answer.get("tasks", [])],
            }
        )
    slot = cdc.get("slot") or {}
    if slot.get("present") and slot.get("retained_wal_bytes", 0) > settings.cdc.wal_warn_bytes:
        report.setdefault("warnings", []).append(
            f"replication slot {slot['slot']} retains {slot['retained_wal_bytes']:,} bytes of WAL (more than "
            f"ALADIA_CDC__WAL_WARN_BYTES={settings.cdc.wal_warn_bytes:,}): its consumer is not confirming progress"
            " — check 'aladia cdc status'; drop a slot nobody uses with 'aladia cdc delete NAME --drop-slot'"
        )
    report["cdc"] = cdc
    from aladia_etl.processing.state import read_streams

    report["streams"] = read_streams(settings)
    if by_name["postgres"].healthy:
        report["gaps"] = _gaps(settings)
    connector = cdc.get("connector")
    cdc_ok = connector is None or (connector["state"] == "RUNNING" and all(t == "RUNNING" for t in connector["tasks"]))
    report["healthy"] = all(c.healthy for c in components) and cdc_ok
    return report


def _gaps(settings: Settings) -> list[dict[str, Any]]:
    """Data loss accepted with --accept-data-loss, newest first (the warehouse may not exist yet)."""
    from aladia_etl.core.errors import ServiceUnavailable
    from aladia_etl.warehouse import loader

    try:
        with loader.connect(settings) as conn:
            if conn.execute("SELECT to_regclass('pipeline_gaps')").fetchone()[0] is None:
                return []
            rows = conn.execute(
                "SELECT engine, topic, partition, from_offset, to_offset, reason, accepted_at FROM pipeline_gaps "
                "ORDER BY accepted_at DESC LIMIT 20"
            ).fetchall()
    except ServiceUnavailable:
        return []
    keys = ("engine", "topic", "partition", "from_offset", "to_offset", "reason", "accepted_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]
