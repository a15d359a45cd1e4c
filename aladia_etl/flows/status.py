"""`aladia status`: the stack's components, the replication slot and the connector."""

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
    report["cdc"] = cdc
    connector = cdc.get("connector")
    cdc_ok = connector is None or (connector["state"] == "RUNNING" and all(t == "RUNNING" for t in connector["tasks"]))
    report["healthy"] = all(c.healthy for c in components) and cdc_ok
    return report
