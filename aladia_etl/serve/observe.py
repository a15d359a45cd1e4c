"""What the health API shows, gathered in one place: the components' states (`flows.health`), the warehouse's batch
figures (`warehouse.figures`), the per-topic lag of each engine (`bus.offsets.lag`, the one definition) and a short
in-memory history of lag and retained WAL for the dashboard's charts. A snapshot is reused for
ALADIA_HEALTH__CACHE_S, so /health, /metrics and the dashboard polling every second share one round of probes.

The readers are parameters so that tests can give fake data without any service."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aladia_etl.core.settings import Settings
from aladia_etl.flows.health import COMPONENTS, ComponentState, Prober, overall


@dataclass
class WarehouseFigures:
    totals: list = field(default_factory=list)  # warehouse.figures.BatchTotals
    freshness: dict = field(default_factory=dict)  # (engine, stream) -> {"batches", "quantiles": {q: seconds}}
    series: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, dict[str, int]] = field(default_factory=dict)
    applied: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)
    table_rows: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (engine, stream, table) → rows
    schema_changes: list[dict[str, Any]] = field(default_factory=list)  # warehouse.schema_history rows, newest first


@dataclass
class Snapshot:
    taken_at: float  # epoch seconds
    components: dict[str, ComponentState]
    warehouse: WarehouseFigures | None
    offsets: list | None  # bus.offsets.PartitionOffsets of the CDC topics
    lag: list[dict[str, Any]]  # {"engine", "topic", "lag"}
    history: list[dict[str, Any]]
    window_s: int
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def health(self) -> dict[str, Any]:
        return {
            **overall(self.components),
            "checked_at": datetime.fromtimestamp(self.taken_at, UTC).isoformat(timespec="milliseconds"),
            "components": {name: c.as_dict() for name, c in self.components.items()},
        }

    @property
    def streams(self) -> list[dict[str, Any]]:
        stream = self.components.get("stream")
        return list(stream.extra.get("streams", [])) if stream else []

    def overview(self) -> dict[str, Any]:
        """Everything the dashboard shows (GET /api/overview)."""
        wh = self.warehouse or WarehouseFigures()
        pipeline = []
        for t in wh.totals:
            fresh = wh.freshness.get((t.engine, t.stream), {})
            quantiles = fresh.get("quantiles", {})
            pipeline.append(
                {
                    **t.as_dict(),
                    "freshness_p50_s": _round(quantiles.get(0.5)),
                    "freshness_p99_s": _round(quantiles.get(0.99)),
                    "freshness_batches": fresh.get("batches", 0),
                }
            )
        connector = self.components.get("connector")
        slot = self.components.get("replication_slot")
        return {
            "taken_at": self.taken_at,
            "health": self.health,
            "connector": connector.extra if connector and connector.extra else None,
            "slot": slot.extra if slot and slot.extra.get("present") else None,
            "streams": self.streams,
            "lag": self.lag,
            "pipeline": pipeline,
            "dead_letters": wh.dead_letters,
            "gaps": wh.gaps,
            "schema_changes": wh.schema_changes,
            "series": {"pipeline": wh.series, "history": self.history},
            "window_s": self.window_s,
            "errors": self.errors,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def read_warehouse(settings: Settings, window_s: int) -> WarehouseFigures:
    """The warehouse's figures, with short connect and statement timeouts."""
    from aladia_etl.stack.connections import connect
    from aladia_etl.warehouse import figures

    timeout = settings.health.probe_timeout_s
    with connect(
        settings,
        settings.postgres.warehouse_db,
        autocommit=True,
        connect_timeout=max(1, round(timeout)),
        options=f"-c statement_timeout={int(timeout * 1000)}",
    ) as conn:
        return WarehouseFigures(
            totals=figures.batch_totals(conn),
            freshness=figures.freshness(conn, window_s),
            series=figures.series(conn, window_s),
            dead_letters=figures.dead_letter_counts(conn),
            gaps=figures.gap_totals(conn),
            applied=figures.applied_offsets(conn),
            table_rows=figures.table_rows(conn),
            schema_changes=figures.schema_changes(conn),
        )


class KafkaOffsets:
    """End offsets of the CDC topics through one long-lived consumer (a new client per poll would cost a
    bootstrap each second); after a failure the next call starts a new one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._consumer = None

    def __call__(self) -> list:
        from aladia_etl.bus.offsets import partition_offsets
        from aladia_etl.bus.topics import cdc_topics
        from aladia_etl.stack.connections import consumer

        timeout_ms = int(self.settings.health.probe_timeout_s * 1000)
        try:
            if self._consumer is None:
                self._consumer = consumer(
                    self.settings, timeout_ms=timeout_ms, group_id=None, request_timeout_ms=max(timeout_ms, 1000)
                )
            return partition_offsets(self._consumer, cdc_topics(self.settings))
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()
        self._consumer = None


def topic_lags(offsets: list, applied: dict[str, dict[tuple[str, int], int]]) -> list[dict[str, Any]]:
    """Per engine that has applied anything, per CDC topic: bus.offsets.lag over that topic's partitions."""
    from aladia_etl.bus.offsets import lag

    out = []
    topics = sorted({o.topic for o in offsets})
    for engine in sorted(applied):
        for topic in topics:
            out.append(
                {
                    "engine": engine,
                    "topic": topic,
                    "lag": lag([o for o in offsets if o.topic == topic], applied[engine]),
                }
            )
    return out


class Observer:
    def __init__(
        self,
        settings: Settings,
        prober: Prober | None = None,
        warehouse: Callable[[Settings, int], WarehouseFigures] | None = None,
        offsets: Callable[[], list] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.prober = prober or Prober(settings)
        self.read_warehouse = warehouse or read_warehouse
        self.read_offsets = offsets or KafkaOffsets(settings)
        self.clock = clock
        self.window_s = settings.health.window_s
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._history: deque[dict[str, Any]] = deque(maxlen=max(60, self.window_s))

    def health(self, names: tuple[str, ...] = COMPONENTS) -> dict[str, ComponentState]:
        return self.prober.check(names)

    def snapshot(self) -> Snapshot:
        """The current snapshot: reused for ALADIA_HEALTH__CACHE_S; one caller gathers, concurrent ones wait for it."""
        with self._lock:
            now = self.clock()
            if self._snapshot is None or now - self._snapshot.taken_at >= self.settings.health.cache_s:
                self._snapshot = self._gather(now)
            return self._snapshot

    def _gather(self, now: float) -> Snapshot:
        components = self.prober.check(COMPONENTS)
        errors: dict[str, str] = {}
        warehouse = offsets = None
        if components["warehouse_db"].state == "ok":
            try:
                warehouse = self.read_warehouse(self.settings, self.window_s)
            except Exception as exc:  # noqa: BLE001 - the API reports any failure as the figures' error
                errors["warehouse"] = _first_line(exc)
        if components["kafka"].state == "ok":
            try:
                offsets = self.read_offsets()
            except Exception as exc:  # noqa: BLE001 - the API reports any failure as the figures' error
                errors["kafka"] = _first_line(exc)
        lags = topic_lags(offsets, warehouse.applied) if offsets is not None and warehouse is not None else []
        slot = components["replication_slot"].extra
        self._history.append(
            {
                "t": round(now, 3),
                "lag": {f"{r['engine']} {r['topic']}": r["lag"] for r in lags},
                "wal_bytes": slot.get("retained_wal_bytes") if slot.get("present") else None,
            }
        )
        while self._history and self._history[0]["t"] < now - self.window_s:
            self._history.popleft()
        return Snapshot(now, components, warehouse, offsets, lags, list(self._history), self.window_s, errors)

    def close(self) -> None:
        close = getattr(self.read_offsets, "close", None)
        if close is not None:
            close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
