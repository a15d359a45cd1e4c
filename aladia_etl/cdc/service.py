"""Registering and operating the Debezium connector over Connect's REST API."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aladia_etl.cdc.client import ConnectClient
from aladia_etl.cdc.connector import build_config, masked, validation_errors
from aladia_etl.core import versions
from aladia_etl.core.errors import AladiaError, ComponentFailed, ConfigError
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.source import schema


@dataclass
class RegisterResult:
    name: str
    action: str  # created | updated | unchanged
    state: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "action": self.action, "status": self.state}


def client_for(settings: Settings) -> ConnectClient:
    c = settings.connect
    return ConnectClient(c.url, c.timeout_s, display_url=c.display_url, http=c.http())


def _states(status: dict) -> tuple[str, list[str]]:
    connector = status.get("connector", {}).get("state", "UNKNOWN")
    tasks = [t.get("state", "UNKNOWN") for t in status.get("tasks", [])]
    return connector, tasks


def wait_running(client: ConnectClient, name: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        status = client.status(name) or {}
        connector, tasks = _states(status)
        failed = [t for t in status.get("tasks", []) if t.get("state") == "FAILED"]
        if connector == "FAILED" or failed:
            trace = (failed[0] if failed else status.get("connector", {})).get("trace", "")
            first = next((ln for ln in trace.splitlines() if ln.strip()), "no trace")
            raise ComponentFailed(
                f"connector {name} FAILED: {first}",
                f"fix the cause, then 'aladia cdc restart {name} --include-tasks'",
                detail="\n".join(trace.splitlines()[:25]),
            )
        if connector == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
            return status
        time.sleep(0.5)
    connector, tasks = _states(status)
    raise ComponentFailed(
        f"connector {name} not RUNNING after {timeout:.0f} s (connector {connector}, tasks {tasks or 'none'})",
        "see 'aladia cdc status' and the Connect log",
    )


def register(
    settings: Settings,
    name: str | None = None,
    tables: tuple[str, ...] = schema.CAPTURED_TABLES,
    database_host: str | None = None,
    timeout: float = 90,
    reporter: Reporter = SILENT,
    schemas: bool = False,
) -> RegisterResult:
    """`schemas=True` embeds the JSON schema in every record (what the JDBC sink peer of `aladia bench` needs)."""
    name = name or settings.cdc.connector_name
    client = client_for(settings)
    config = build_config(settings, tables, database_host, schemas=schemas)
    with reporter.task("validating the connector configuration with Connect"):
        answer = client.validate(versions.POSTGRES_CONNECTOR_CLASS, {**config, "name": name})
    errors = validation_errors(answer)
    if errors:
        lines = [f"{field_name}: {message}" for field_name, message in errors]
        raise ConfigError(
            f"Connect rejected the connector configuration ({len(errors)} error(s)): {lines[0]}",
            "fix the settings named below (ALADIA_POSTGRES__*, ALADIA_CDC__*) and register again",
            detail="\n".join(lines),
        )
    existing = client.config(name)
    if existing is not None and {k: v for k, v in existing.items() if k != "name"} == config:
        action = "unchanged"
    else:
        client.put_config(name, config)
        action = "created" if existing is None else "updated"
    reporter.info(f"connector {name}: {action}")
    try:
        with reporter.task(f"waiting for {name} and its task to be RUNNING"):
            state = wait_running(client, name, timeout)
    except AladiaError:
        if action == "created":
            client.delete(name)  # nothing half-registered is left behind
        raise
    return RegisterResult(name, action, state)


def include_tables(settings: Settings, tables: tuple[str, ...], timeout: float = 90) -> None:
    """Capture exactly `tables` with the registered connector (the rest of its configuration kept as registered),
    then wait until it and its task are RUNNING again."""
    name = settings.cdc.connector_name
    client = client_for(settings)
    config = client.config(name)
    if config is None:
        raise ConfigError(f"connector {name} is not registered", "register it with 'aladia cdc register'")
    wanted = build_config(settings, tables)["table.include.list"]
    if config.get("table.include.list") == wanted:
        return
    client.put_config(name, {k: v for k, v in config.items() if k != "name"} | {"table.include.list": wanted})
    wait_running(client, name, timeout)


def status(settings: Settings, name: str | None = None) -> dict:
    client = client_for(settings)
    name = name or settings.cdc.connector_name
    answer = client.status(name)
    if answer is None:
        raise AladiaError(
            f"no connector named {name} at {settings.connect.display_url}",
            "register it with 'aladia cdc register' (see 'aladia cdc list')",
        )
    return answer


def list_connectors(settings: Settings) -> dict[str, dict]:
    return client_for(settings).connectors_with_status()


def _require(client: ConnectClient, name: str, url: str) -> None:
    if client.status(name) is None:
        raise AladiaError(f"no connector named {name} at {url}", "see 'aladia cdc list'")


def pause(settings: Settings, name: str) -> None:
    client = client_for(settings)
    _require(client, name, settings.connect.display_url)
    client.pause(name)


def resume(settings: Settings, name: str) -> None:
    client = client_for(settings)
    _require(client, name, settings.connect.display_url)
    client.resume(name)


def restart(settings: Settings, name: str, include_tasks: bool, only_failed: bool) -> Any:
    client = client_for(settings)
    _require(client, name, settings.connect.display_url)
    return client.restart(name, include_tasks, only_failed)


def config(settings: Settings, name: str) -> dict[str, str]:
    answer = client_for(settings).config(name)
    if answer is None:
        raise AladiaError(f"no connector named {name} at {settings.connect.display_url}", "see 'aladia cdc list'")
    return masked(answer)


def delete(settings: Settings, name: str, drop_slot: bool = False, timeout: float = 30) -> dict:
    client = client_for(settings)
    existing = client.config(name)
    if existing is None:
        raise AladiaError(f"no connector named {name} at {settings.connect.display_url}", "see 'aladia cdc list'")
    result: dict[str, Any] = {"deleted": name, "slot_dropped": None, "offsets_reset": False}
    if drop_slot:
        # Without its slot, the connector's stored offsets point at WAL that no longer exists: a connector
        # registered later under the same name would fail ("no longer available on the server"). Forget them.
        client.stop(name)
        wait_state(client, name, "STOPPED", timeout)
        client.reset_offsets(name)
        result["offsets_reset"] = True
    client.delete(name)
    if drop_slot:
        slot = existing.get("slot.name", settings.cdc.slot_name)
        result["slot_dropped"] = drop_replication_slot(settings, slot, timeout)
    return result


def retire(client: ConnectClient, name: str, timeout: float = 60) -> None:
    """Delete a connector once its tasks have shut down. Deleted while running, a task lives on for a moment: a
    source task would write to topics deleted next and a sink's consumer would ask for them, and a broker that
    auto-creates topics brings them back either way."""
    client.stop(name)
    wait_state(client, name, "STOPPED", timeout)
    client.delete(name)


def wait_state(client: ConnectClient, name: str, state: str, timeout: float) -> None:
    """Until the connector is in `state`; STOPPED also waits for its tasks to be gone (shut down)."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.status(name) or {}
        if status.get("connector", {}).get("state") == state and not (state == "STOPPED" and status.get("tasks")):
            return
        if time.monotonic() > deadline:
            raise AladiaError(
                f"connector {name} did not reach {state} within {timeout:.0f} s",
                "see 'aladia cdc status' and the Connect log",
            )
        time.sleep(0.2)


def drop_replication_slot(settings: Settings, slot: str, timeout: float = 30) -> str | None:
    """Drop a slot once its connector has let go of it. Returns the slot name, or None if it did not exist."""
    from aladia_etl.source.bootstrap import connect

    deadline = time.monotonic() + timeout
    with connect(settings, "postgres", autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
            if row is None:
                return None
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                return slot
            if time.monotonic() > deadline:
                raise AladiaError(
                    f"replication slot {slot} is still in use after {timeout:.0f} s",
                    f"stop its consumer, then run: SELECT pg_drop_replication_slot('{slot}')",
                )
            time.sleep(0.3)


def slot_info(settings: Settings, timeout: float = 3) -> dict | None:
    """The connector's replication slot: present, active, WAL it retains (bytes); None when the server does not
    answer."""
    import psycopg

    from aladia_etl.core.errors import ServiceUnavailable
    from aladia_etl.stack.connections import connect

    try:
        with connect(settings, "postgres", connect_timeout=max(1, round(timeout))) as conn:
            row = conn.execute(
                "SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, "
                "confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                (settings.cdc.slot_name,),
            ).fetchone()
    except (psycopg.Error, ServiceUnavailable):
        return None
    if row is None:
        return {"slot": settings.cdc.slot_name, "present": False}
    return {
        "slot": row[0],
        "present": True,
        "active": row[1],
        "retained_wal_bytes": row[2],
        "confirmed_flush_lsn": row[3],
    }
