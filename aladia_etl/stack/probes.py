"""One check per component. Each returns a ComponentHealth and never raises for an unreachable service."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aladia_etl.core import versions
from aladia_etl.core.errors import ServiceUnavailable
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar


@dataclass
class ComponentHealth:
    name: str
    healthy: bool
    address: str
    detail: str = ""
    version: str | None = None
    pid: int | None = None
    managed: bool = False  # started by `aladia up` (its pid file verified against the process)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_postgres(settings: Settings) -> ComponentHealth:
    import psycopg

    from aladia_etl.stack.connections import connect

    pg = settings.postgres
    address = f"{pg.host}:{pg.port}"
    try:
        with connect(settings, "postgres", connect_timeout=3) as conn:
            version = scalar(conn, "SHOW server_version")
            wal_level = scalar(conn, "SHOW wal_level")
            dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    except (psycopg.Error, ServiceUnavailable) as exc:
        return ComponentHealth("postgres", False, address, _first_line(exc))
    missing = [db for db in (pg.source_db, pg.warehouse_db) if db not in dbs]
    detail = f"wal_level={wal_level}"
    healthy = True
    if missing:
        detail += f"; missing databases: {', '.join(missing)}"
        healthy = False
    if wal_level != "logical":
        healthy = False
    return ComponentHealth("postgres", healthy, address, detail, version.split()[0], extra={"wal_level": wal_level})


def check_database(settings: Settings, name: str, dbname: str, timeout: float = 3) -> ComponentHealth:
    """One database of the PostgreSQL server: connect to it and run `SELECT 1` (the health API probes the source
    and the warehouse databases separately: one can be missing or refuse connections while the other serves)."""
    import psycopg

    from aladia_etl.stack.connections import connect

    pg = settings.postgres
    address = f"{pg.host}:{pg.port}/{dbname}"
    try:
        with connect(settings, dbname, connect_timeout=max(1, round(timeout))) as conn:
            conn.execute("SELECT 1").fetchone()
            version = conn.info.parameter_status("server_version")
    except (psycopg.Error, ServiceUnavailable) as exc:
        return ComponentHealth(name, False, address, _first_line(exc))
    return ComponentHealth(name, True, address, f"database {dbname} answers", (version or "").split()[0] or None)


def check_kafka(settings: Settings, timeout: float = 3) -> ComponentHealth:
    from aladia_etl.stack.connections import admin as kafka_admin

    address = settings.kafka.bootstrap_servers
    try:
        admin = kafka_admin(settings, timeout_ms=int(timeout * 1000), request_timeout_ms=int(timeout * 1000))
        try:
            cluster = admin.describe_cluster()
            topics = admin.list_topics()
        finally:
            admin.close()
    except Exception as exc:  # noqa: BLE001 - kafka-python raises a variety of errors for an absent broker
        return ComponentHealth("kafka", False, address, _first_line(exc) or type(exc).__name__)
    brokers = len(cluster.get("brokers", []))
    detail = f"cluster {cluster.get('cluster_id')}, {brokers} broker(s), {len(topics)} topic(s)"
    return ComponentHealth(
        "kafka",
        brokers > 0,
        address,
        detail,
        versions.KAFKA_VERSION,
        extra={"cluster_id": cluster.get("cluster_id"), "topics": len(topics)},
    )


def check_connect(settings: Settings, timeout: float = 3) -> ComponentHealth:
    import requests

    url = settings.connect.url
    shown = settings.connect.display_url
    try:
        http = settings.connect.http()
        root = requests.get(url + "/", timeout=timeout, **http)
        plugins = requests.get(url + "/connector-plugins", timeout=timeout + 2, **http)
        root.raise_for_status()
        plugins.raise_for_status()
        classes = [p.get("class") for p in plugins.json()]
    except (requests.RequestException, ValueError) as exc:
        return ComponentHealth("connect", False, shown, _first_line(exc).replace(url, shown))
    has_debezium = versions.POSTGRES_CONNECTOR_CLASS in classes
    detail = (
        "Debezium PostgreSQL connector plugin loaded"
        if has_debezium
        else "Debezium PostgreSQL connector plugin missing from plugin.path"
    )
    return ComponentHealth(
        "connect", has_debezium, shown, detail, root.json().get("version"), extra={"plugins": classes}
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connector_states(settings: Settings) -> dict[str, tuple[str, list[str]]]:
    """Every connector registered in the Connect cluster: (connector state, task states)."""
    import requests

    answer = requests.get(
        settings.connect.url + "/connectors", params={"expand": "status"}, timeout=5, **settings.connect.http()
    )
    answer.raise_for_status()
    out = {}
    for name, entry in (answer.json() or {}).items():
        status = entry.get("status", {})
        out[name] = (
            status.get("connector", {}).get("state", "UNKNOWN"),
            [t.get("state", "UNKNOWN") for t in status.get("tasks", [])],
        )
    return out


def wait_connectors_running(settings: Settings, timeout: float = 120) -> dict[str, str]:
    """After a (re)start of the stack, wait until every registered connector and its tasks are RUNNING (a task
    restored from Connect's config topic is UNASSIGNED for a few seconds). A connector that is PAUSED or STOPPED is
    left as the user set it; a FAILED one is reported, not waited for. Returns name -> final state."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while True:
        try:
            found = connector_states(settings)
        except (requests.RequestException, ValueError):
            found = None
        if found is not None:
            states = {}
            for name, (connector, tasks) in found.items():
                if connector in ("PAUSED", "STOPPED") or connector == "FAILED" or "FAILED" in tasks:
                    states[name] = "FAILED" if "FAILED" in (connector, *tasks) else connector
                elif connector == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
                    states[name] = "RUNNING"
                else:
                    states[name] = f"{connector} (tasks: {', '.join(tasks) or 'none yet'})"
            if all(s in ("RUNNING", "PAUSED", "STOPPED", "FAILED") for s in states.values()):
                return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.5)
