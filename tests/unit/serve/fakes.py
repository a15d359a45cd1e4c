"""Fake data for the health API's tests: probes that answer what a test says, a warehouse and Kafka that hold
what a test says (no service is reached)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aladia_etl.bus.offsets import PartitionOffsets
from aladia_etl.core.settings import Settings
from aladia_etl.flows.health import ComponentState, Prober, connector_state, slot_state, stream_state
from aladia_etl.serve.observe import Observer, WarehouseFigures
from aladia_etl.warehouse.figures import BatchTotals

TOPICS = ["orders_db.public.customers", "orders_db.public.orders"]


def settings(tmp_path: Path, **health) -> Settings:
    """Settings pointing at closed ports (port 1 refuses connections at once)."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        postgres={"port": 1},
        kafka={"bootstrap_servers": "127.0.0.1:1"},
        connect={"url": "http://127.0.0.1:1"},
        health={"probe_timeout_s": 1.0, "cache_s": 0.0, **health},
    )


def published_stream(engine="beam", stream="default", state="running", lag=12, retrying=None, alive=True) -> dict:
    return {
        "engine": engine,
        "stream": stream,
        "pid": os.getpid(),
        "state": state,
        "retrying": retrying,
        "stopped_reason": None,
        "batches": 42,
        "records": 5000,
        "dead_letters": 3,
        "lag": lag,
        "alive": alive,
        "updated_at": datetime.now(UTC).isoformat(),
    }


class World:
    """What the fake components answer; a test changes it between requests."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.connector = {"name": "orders-connector", "state": "RUNNING", "tasks": ["RUNNING"]}
        self.slot = {"slot": "aladia_slot", "present": True, "active": True, "retained_wal_bytes": 123_456}
        self.streams = [published_stream()]
        self.max_lag = 100_000

    def probes(self, settings: Settings) -> dict:
        def infra(name):
            def probe(_settings, _timeout):
                if name in self.down:
                    return ComponentState(name, "down", "connection refused", "127.0.0.1:1")
                return ComponentState(name, "ok", f"{name} answers", "127.0.0.1:9")

            return probe

        return {
            **{n: infra(n) for n in ("source_db", "warehouse_db", "kafka", "connect")},
            "connector": lambda s, t: connector_state("orders-connector", self.connector, "http://127.0.0.1:9"),
            "replication_slot": lambda s, t: slot_state(s, self.slot, "127.0.0.1:9"),
            "stream": lambda s, t: stream_state(self.streams, self.max_lag, "/tmp/streams"),
        }


def figures() -> WarehouseFigures:
    now = datetime.now(UTC)
    totals = BatchTotals(
        engine="beam",
        stream="default",
        batches=42,
        records=5000,
        rows=4800,
        dead_letters=3,
        tombstones=7,
        last_applied_at=now - timedelta(seconds=2),
        last_duration_s=0.42,
        duration_buckets=[1, 5, 20, 40, 42, 42, 42, 42, 42],
        duration_count=42,
        duration_sum_s=21.5,
    )
    t0 = int(now.timestamp() // 10 * 10)
    series = [
        {
            "engine": "beam",
            "stream": "default",
            "t": float(t0 - 10 * i),
            "batches": 3,
            "events_per_s": 50.0 + i,
            "dead_letters": 1 if i == 2 else 0,
            "batch_duration_s": 0.3 + i / 100,
            "freshness_p50_s": 0.8,
            "freshness_p99_s": 1.6,
        }
        for i in range(6)
    ]
    return WarehouseFigures(
        totals=[totals],
        freshness={("beam", "default"): {"batches": 40, "sum_s": 36.0, "quantiles": {0.5: 0.8, 0.99: 1.6}}},
        series=series,
        dead_letters={"dead": 3, "replayed": 1},
        gaps={"beam": {"gaps": 1, "records": 17}},
        schema_changes=[
            {
                "at": (now - timedelta(minutes=m)).isoformat(),
                "engine": "beam",
                "stream": "default",
                "table": "public.accounts",
                "kind": kind,
                "column": column,
                "detail": detail,
                "outcome": outcome,
            }
            for m, kind, column, detail, outcome in (
                (1, "type_change", "balance", "numeric(6,2) → numeric(12,4)", "widen"),
                (5, "add_column", "tier", None, "evolve"),
            )
        ],
        applied={"beam": {(TOPICS[0], 0): 90, (TOPICS[1], 0): 180}},
    )


def offsets() -> list[PartitionOffsets]:
    return [PartitionOffsets(TOPICS[0], 0, 0, 100), PartitionOffsets(TOPICS[1], 0, 0, 200)]


def observer(settings: Settings, world: World) -> Observer:
    return Observer(
        settings,
        prober=Prober(settings, world.probes(settings)),
        warehouse=lambda s, window: figures(),
        offsets=offsets,
    )
