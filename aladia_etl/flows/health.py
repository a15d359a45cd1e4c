"""The pipeline's health, one state per component, for the health API (`aladia serve`): the same probes as
`aladia status` (`stack.probes`, `flows.status`'s connector and slot, the streams' published states), run
concurrently, each with a deadline, so that one dead component never makes the answer wait; results are reused for
a short while (ALADIA_HEALTH__CACHE_S) so that a dashboard polling every second does not hammer the services.

States: ok; down (an infrastructure component does not answer); failed (the connector or one of its tasks);
failing, retrying, lagging (a running stream); absent (no stream running, no connector registered, no slot yet);
warning (e.g. the slot retains more WAL than ALADIA_CDC__WAL_WARN_BYTES, a paused connector); unknown (a component
that could not be asked because what it lives on does not answer). The pipeline is unhealthy (503) when any
component is down, failed, failing, retrying or lagging."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from aladia_etl.core.settings import Settings

log = logging.getLogger("aladia.health")

INFRASTRUCTURE = ("source_db", "warehouse_db", "kafka", "connect")
COMPONENTS = (*INFRASTRUCTURE, "connector", "replication_slot", "stream")
UNHEALTHY = frozenset({"down", "failed", "failing", "retrying", "lagging"})
STATES = ("ok", "warning", "absent", "unknown", *sorted(UNHEALTHY))


@dataclass
class ComponentState:
    component: str
    state: str
    detail: str = ""
    address: str = ""
    latency_ms: float | None = None
    checked_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.state not in UNHEALTHY

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


def _from_probe(health) -> ComponentState:
    """A `stack.probes.ComponentHealth` as a component state."""
    extra = {"version": health.version} if health.version else {}
    return ComponentState(health.name, "ok" if health.healthy else "down", health.detail, health.address, extra=extra)


def probe_source_db(settings: Settings, timeout: float) -> ComponentState:
    from aladia_etl.stack.probes import check_database

    return _from_probe(check_database(settings, "source_db", settings.postgres.source_db, timeout))


def probe_warehouse_db(settings: Settings, timeout: float) -> ComponentState:
    from aladia_etl.stack.probes import check_database

    return _from_probe(check_database(settings, "warehouse_db", settings.postgres.warehouse_db, timeout))


def probe_kafka(settings: Settings, timeout: float) -> ComponentState:
    from aladia_etl.stack.probes import check_kafka

    return _from_probe(check_kafka(settings, timeout))


def probe_connect(settings: Settings, timeout: float) -> ComponentState:
    from aladia_etl.stack.probes import check_connect

    return _from_probe(check_connect(settings, timeout))


def probe_connector(settings: Settings, timeout: float) -> ComponentState:
    from aladia_etl.core.errors import AladiaError
    from aladia_etl.flows.status import connector_summary

    try:
        summary = connector_summary(settings, timeout)
    except AladiaError as exc:
        return ComponentState("connector", "unknown", exc.reason, settings.connect.display_url)
    return connector_state(settings.cdc.connector_name, summary, settings.connect.display_url)


def connector_state(name: str, summary: dict[str, Any] | None, address: str = "") -> ComponentState:
    if summary is None:
        return ComponentState("connector", "absent", f"connector {name} is not registered", address, extra={})
    connector, tasks = summary.get("state") or "UNKNOWN", list(summary.get("tasks") or [])
    detail = f"connector {summary.get('name', name)}: {connector} (tasks: {', '.join(tasks) or 'none'})"
    extra = {"name": summary.get("name", name), "connector_state": connector, "tasks": tasks}
    if connector == "FAILED" or "FAILED" in tasks:
        state = "failed"
    elif connector == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
        state = "ok"
    else:
        state = "warning"  # PAUSED, STOPPED, UNASSIGNED, RESTARTING, no task yet
    return ComponentState("connector", state, detail, address, extra=extra)


def probe_replication_slot(settings: Settings, timeout: float) -> ComponentState:
    from aladia_etl.cdc.service import slot_info

    pg = settings.postgres
    address = f"{pg.host}:{pg.port}"
    slot = slot_info(settings, timeout)
    if slot is None:
        return ComponentState("replication_slot", "unknown", "the PostgreSQL server does not answer", address)
    return slot_state(settings, slot, address)


def slot_state(settings: Settings, slot: dict[str, Any], address: str = "") -> ComponentState:
    from aladia_etl.flows.status import wal_warning

    if not slot.get("present"):
        detail = f"slot {slot.get('slot')} not created yet (register the connector)"
        return ComponentState("replication_slot", "absent", detail, address, extra=dict(slot))
    warning = wal_warning(settings, slot)
    active = "active" if slot.get("active") else "inactive"
    detail = warning or f"slot {slot['slot']}: {active}, retains {slot.get('retained_wal_bytes', 0):,} bytes of WAL"
    return ComponentState("replication_slot", "warning" if warning else "ok", detail, address, extra=dict(slot))


def probe_stream(settings: Settings, timeout: float) -> ComponentState:
    from aladia_etl.processing.state import read_streams, streams_dir

    return stream_state(read_streams(settings), settings.health.max_lag, str(streams_dir(settings)))


_SEVERITY = {"ok": 0, "lagging": 1, "retrying": 2, "failing": 3}


def stream_state(streams: list[dict[str, Any]], max_lag: int, address: str = "") -> ComponentState:
    """The streams' published states: a stream that is not running is absent (not unhealthy); a running one is
    failing, retrying, lagging past `max_lag` records, or ok. Several streams: the worst."""
    running = [s for s in streams if s.get("alive")]
    if not running:
        last = ", ".join(f"{s.get('engine')}/{s.get('stream')}: {s.get('state')}" for s in streams)
        detail = "no stream running" + (f" (last: {last})" if last else "")
        return ComponentState("stream", "absent", detail, address, extra={"streams": streams})
    worst, details = "ok", []
    for s in running:
        lag = s.get("lag")
        if s.get("state") == "failed":
            state, why = "failing", s.get("stopped_reason") or "failed"
        elif s.get("state") == "retrying" or s.get("retrying"):
            state, why = "retrying", s.get("retrying") or "retrying"
        elif isinstance(lag, int) and lag > max_lag:
            state, why = "lagging", f"lag {lag:,} records > ALADIA_HEALTH__MAX_LAG={max_lag:,}"
        else:
            state, why = "ok", f"{s.get('state')}, lag {lag}, {s.get('batches', 0)} batches"
        details.append(f"{s.get('engine')}/{s.get('stream')}: {why}")
        if _SEVERITY[state] > _SEVERITY[worst]:
            worst = state
    return ComponentState("stream", worst, "; ".join(details), address, extra={"streams": streams})


PROBES: dict[str, Callable[[Settings, float], ComponentState]] = {
    "source_db": probe_source_db,
    "warehouse_db": probe_warehouse_db,
    "kafka": probe_kafka,
    "connect": probe_connect,
    "connector": probe_connector,
    "replication_slot": probe_replication_slot,
    "stream": probe_stream,
}


def overall(states: dict[str, ComponentState]) -> dict[str, Any]:
    unhealthy = sorted(name for name, s in states.items() if not s.healthy)
    warnings = sorted(name for name, s in states.items() if s.state == "warning")
    state = "unhealthy" if unhealthy else "warning" if warnings else "ok"
    return {"state": state, "healthy": not unhealthy, "unhealthy": unhealthy, "warnings": warnings}


class Prober:
    """Runs the probes concurrently with a deadline each (ALADIA_HEALTH__PROBE_TIMEOUT_S). A component that does
    not answer in time is reported down (unknown for those that live on another component); its probe keeps its
    own network timeouts and is not started again while it still runs; its late answer is kept for the next
    round. Answers are reused for ALADIA_HEALTH__CACHE_S."""

    def __init__(
        self,
        settings: Settings,
        probes: dict[str, Callable[[Settings, float], ComponentState]] | None = None,
    ) -> None:
        self.settings = settings
        self.probes = dict(probes or PROBES)
        self.timeout = settings.health.probe_timeout_s
        self.cache_s = settings.health.cache_s
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ComponentState]] = {}
        self._running: dict[str, Future] = {}
        self._logged: dict[str, str] = {}

    def _start(self, name: str) -> Future:
        """The probe's future: the one still running, or a new one in a daemon thread (no exit waits for it)."""
        with self._lock:
            running = self._running.get(name)
            if running is not None and not running.done():
                return running
            future: Future = Future()
            self._running[name] = future

        def run() -> None:
            started = time.monotonic()
            try:
                result = self.probes[name](self.settings, self.timeout)
            except Exception as exc:  # noqa: BLE001 - a probe never takes the API down: its error is the component's detail
                result = ComponentState(name, "down" if name in INFRASTRUCTURE else "unknown", str(exc) or repr(exc))
            result.latency_ms = round((time.monotonic() - started) * 1000, 1)
            result.checked_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            with self._lock:
                self._cache[name] = (time.monotonic(), result)
            future.set_result(result)

        threading.Thread(target=run, name=f"aladia-probe-{name}", daemon=True).start()
        return future

    def check(self, names: tuple[str, ...] | list[str] = COMPONENTS) -> dict[str, ComponentState]:
        now = time.monotonic()
        results: dict[str, ComponentState] = {}
        pending: dict[str, Future] = {}
        with self._lock:
            fresh = {n: c for n, (at, c) in self._cache.items() if now - at < self.cache_s}
        for name in names:
            if name in fresh:
                results[name] = fresh[name]
            else:
                pending[name] = self._start(name)
        deadline = now + self.timeout
        for name, future in pending.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                results[name] = future.result() if future.done() else self._late(name)
        self._log_changes(results)
        return {name: results[name] for name in names}

    def _late(self, name: str) -> ComponentState:
        state = ComponentState(
            name,
            "down" if name in INFRASTRUCTURE else "unknown",
            f"no answer within {self.timeout:g} s (ALADIA_HEALTH__PROBE_TIMEOUT_S)",
            self._address(name),
            latency_ms=round(self.timeout * 1000, 1),
            checked_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )
        with self._lock:  # the next rounds reuse this while the probe still runs, instead of waiting again
            self._cache[name] = (time.monotonic(), state)
        return state

    def _address(self, name: str) -> str:
        pg = self.settings.postgres
        return {
            "source_db": f"{pg.host}:{pg.port}/{pg.source_db}",
            "warehouse_db": f"{pg.host}:{pg.port}/{pg.warehouse_db}",
            "kafka": self.settings.kafka.bootstrap_servers,
            "connect": self.settings.connect.display_url,
            "connector": self.settings.connect.display_url,
            "replication_slot": f"{pg.host}:{pg.port}",
        }.get(name, "")

    def _log_changes(self, results: dict[str, ComponentState]) -> None:
        """A component's state is logged when it changes (a dashboard polling every second adds no noise)."""
        with self._lock:
            changed = [s for n, s in results.items() if self._logged.get(n) != s.state]
            self._logged.update({n: s.state for n, s in results.items()})
        for s in changed:
            level = logging.INFO if s.healthy else logging.WARNING
            log.log(level, "%s is %s: %s", s.component, s.state, s.detail, extra={"component": s.component})
