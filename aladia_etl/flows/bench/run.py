"""The bench phases: prepare → fill → drain (engines, JDBC sink, native replication) → freshness → sustained."""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aladia_etl import __version__
from aladia_etl.core import versions
from aladia_etl.core.errors import AladiaError, UsageError
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.flows.bench import peers
from aladia_etl.flows.bench.setup import BenchNames, bench_settings, delete_topics, drop_database, drop_slot
from aladia_etl.processing.model import ENGINES

PEERS = ("jdbc", "native")


@dataclass
class BenchOptions:
    engines: tuple[str, ...] = tuple(ENGINES)
    peers: tuple[str, ...] = PEERS
    events: int = 100_000
    rate: float = 1000.0
    duration: float = 30.0
    trigger_interval: float = 0.5
    sustained_seconds: float = 60.0
    sustained_rates: tuple[float, ...] = (500.0, 1000.0, 2000.0, 4000.0)
    keep: bool = False

    def validate(self) -> None:
        bad = [e for e in self.engines if e not in ENGINES] + [p for p in self.peers if p not in PEERS]
        if bad:
            raise UsageError(
                f"unknown engine or peer: {', '.join(bad)}", f"engines: {', '.join(ENGINES)}; peers: {', '.join(PEERS)}"
            )
        if self.events < 100 or self.rate <= 0 or self.duration <= 0 or self.sustained_seconds < 0:
            raise UsageError(
                "--events must be at least 100, --rate and --duration positive",
                "e.g. aladia bench --events 100000 --rate 1000 --duration 30",
            )


@dataclass
class Bench:
    settings: Settings
    options: BenchOptions
    reporter: Reporter = SILENT
    names: BenchNames = field(default_factory=BenchNames)
    result: dict[str, Any] = field(default_factory=dict)

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def src(self) -> Settings:
        return bench_settings(self.settings, self.names)

    def topics(self, plain: bool = False) -> list[str]:
        from aladia_etl.bus.topics import cdc_topics

        return cdc_topics(bench_settings(self.settings, self.names, plain=plain))

    def topic_total(self, plain: bool = False) -> int:
        from aladia_etl.bus.offsets import total_records

        return total_records(self.settings, self.topics(plain))

    def simulate(
        self,
        rate: float | None,
        duration: float | None = None,
        events: int | None = None,
        stop: threading.Event | None = None,
    ):
        from aladia_etl.source.workload import simulate

        return simulate(self.src, rate=rate, duration=duration, events=events, seed=1234, stop=stop)

    def fresh_warehouse(self, engine: str, phase: str, plain: bool = True) -> Settings:
        from aladia_etl.flows.bench.setup import recreate_database

        name = self.names.warehouse(engine, phase)
        recreate_database(self.settings, name)
        return bench_settings(self.settings, self.names, warehouse_db=name, plain=plain)

    # -- phases --------------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        from aladia_etl.cdc.service import client_for

        client = client_for(self.settings)
        for name in client.connectors():
            if name.startswith("aladia-bench-"):  # this run's, or what a crashed earlier run left
                client.delete(name)
        for slot in (self.names.slot, self.names.plain_slot, self.names.native_slot):
            drop_slot(self.settings, slot)
        delete_topics(self.settings, self.names.topic_prefix)
        delete_topics(self.settings, self.names.plain_prefix)

    def prepare(self) -> None:
        from aladia_etl.cdc.service import register
        from aladia_etl.flows.bench.setup import recreate_database
        from aladia_etl.source.bootstrap import bootstrap
        from aladia_etl.source.seed import SeedSpec

        self.cleanup()
        recreate_database(self.settings, self.names.source_db)
        bootstrap(self.src, SeedSpec(customers=500, products=100, orders=0, rng_seed=7))
        if "native" in self.options.peers:
            peers.prepare_native(self.settings, self.names)
        # Same source, two connectors: JSON with embedded schemas (what the JDBC sink needs; everyone drains
        # these topics for the comparison) and the pipeline's own schemaless JSON.
        register(self.src, self.names.connector, timeout=120, schemas=True)
        plain = bench_settings(self.settings, self.names, plain=True)
        register(plain, self.names.plain_connector, timeout=120)

    def fill(self) -> dict:
        snapshot = self.wait_topics(lambda total: total >= 600, "the snapshot")
        self.wait_topics(lambda total: total >= 600, "the snapshot", plain=True)
        stats = self.simulate(rate=None, events=self.options.events)
        from aladia_etl.source.bootstrap import connect

        with connect(self.src) as conn:
            self.end_lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        deletes = stats.deletes
        expected = snapshot + stats.cdc_records
        total = self.wait_topics(lambda t: t >= expected, f"{expected} records")
        self.wait_topics(lambda t: t >= expected, f"{expected} records", plain=True)
        self.records = total
        self.changes = stats.total
        return {
            "changes": stats.total,
            "transactions": stats.transactions,
            "simulate_rate": round(stats.rate, 1),
            "topic_records": total,
            "snapshot_records": snapshot,
            "tombstones": deletes,
        }

    def wait_topics(self, predicate, what: str, timeout: float = 600, plain: bool = False) -> int:
        deadline = time.monotonic() + timeout
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            total = self.topic_total(plain)
            if total != last:
                last, stable_since = total, time.monotonic()
            if predicate(total) and time.monotonic() - stable_since > 1.0:
                return total
            time.sleep(0.25)
        raise AladiaError(
            f"the bench topics did not receive {what} within {timeout:.0f} s (have {last})",
            "see 'aladia cdc status aladia-bench' and the Connect log",
        )

    def drain(self, engine: str, plain: bool = False) -> dict:
        from aladia_etl.processing.loop import run_stream
        from aladia_etl.processing.model import StreamOptions
        from aladia_etl.warehouse.verify import verify

        target = self.fresh_warehouse(engine, "drain_plain" if plain else "drain", plain=plain)
        options = StreamOptions(
            engine=engine,
            until_idle=True,
            from_beginning=True,
            settle_s=1.0,
            trigger_interval=self.options.trigger_interval,
            stream_name="bench-drain",
        )
        from aladia_etl.flows.bench.memory import PeakRss

        started = time.monotonic()
        with PeakRss() as peak:
            progress = run_stream(target, options)
        wall = time.monotonic() - started
        exact = verify(target).ok
        return {
            "records": progress.records,
            "batches": progress.batches,
            "seconds": round(progress.drain_s or 0, 3),
            "events_per_s": round(progress.records / progress.drain_s, 1) if progress.drain_s else None,
            "wall_s_including_start": round(wall, 3),
            "peak_rss_mib": peak.mib,
            "warehouse_equals_source": exact,
        }

    def _streaming(self, engine: str, target: Settings, name: str):
        """A stream running in a thread until `stop` is set; returns (thread, stop, progress holder)."""
        from aladia_etl.processing.loop import run_stream
        from aladia_etl.processing.model import StreamOptions, StreamProgress

        stop = threading.Event()
        holder: dict[str, Any] = {"progress": None, "error": None}
        options = StreamOptions(
            engine=engine, from_beginning=True, trigger_interval=self.options.trigger_interval, stream_name=name
        )

        def run() -> None:
            try:
                run_stream(target, options, on_progress=lambda p: holder.__setitem__("progress", p), stop=stop)
            except BaseException as exc:
                holder["error"] = exc

        thread = threading.Thread(target=run, name=f"bench-{engine}", daemon=True)
        thread.start()

        def lag() -> int | None:
            if holder["error"]:
                raise holder["error"]
            p: StreamProgress | None = holder["progress"]
            return None if p is None or p.batches == 0 else p.lag

        return thread, stop, lag

    def _wait_caught_up(self, lag, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        zero_since = None
        while time.monotonic() < deadline:
            current = lag()
            if current == 0:
                zero_since = zero_since or time.monotonic()
                if time.monotonic() - zero_since >= 1.0:
                    return
            else:
                zero_since = None
            time.sleep(0.2)
        raise AladiaError("the engine did not catch up during the bench", "see the engine's log")

    def freshness(self, engine: str) -> dict:
        from aladia_etl.warehouse import loader

        target = self.fresh_warehouse(engine, "fresh")
        thread, stop, lag = self._streaming(engine, target, "bench-fresh")
        try:
            self._wait_caught_up(lag)
            window_start = datetime.now(UTC)
            stats = self.simulate(rate=self.options.rate, duration=self.options.duration)
            self._wait_caught_up(lag)
        finally:
            stop.set()
            thread.join(timeout=300)
        latencies = []
        with loader.connect(target) as conn:
            for table in ("dim_customer", "dim_product", "fact_order", "fact_order_item"):
                latencies += [
                    r[0]
                    for r in conn.execute(
                        f"SELECT extract(epoch FROM loaded_at - source_ts)::float8 FROM {table} WHERE source_ts >= %s",
                        (window_start,),
                    )
                ]
        if not latencies:
            raise AladiaError("no rows were loaded during the freshness window", "see the engine's log")
        latencies.sort()

        def pct(p: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))], 3)

        return {
            "rate_target": self.options.rate,
            "rate_achieved": round(stats.rate, 1),
            "duration_s": self.options.duration,
            "rows": len(latencies),
            "p50_s": pct(50),
            "p95_s": pct(95),
            "p99_s": pct(99),
            "max_s": round(latencies[-1], 3),
            "mean_s": round(statistics.fmean(latencies), 3),
        }

    def sustained(self, engine: str) -> dict:
        """Step up the rate; a step passes when the lag stays under 3 seconds' worth of changes during its second
        half. The highest passing rate is reported; a step the simulator itself cannot reach ends the search."""
        target = self.fresh_warehouse(engine, "sustained")
        thread, stop, lag = self._streaming(engine, target, "bench-sustained")
        steps, best, limited = [], None, False
        try:
            self._wait_caught_up(lag)
            for rate in self.options.sustained_rates:
                samples: list[tuple[float, int]] = []
                done = threading.Event()
                sim_result: dict[str, Any] = {}

                def run_sim(rate: float = rate, done: threading.Event = done, out: dict = sim_result) -> None:
                    out["stats"] = self.simulate(rate=rate, duration=self.options.sustained_seconds)
                    done.set()

                sim = threading.Thread(target=run_sim, daemon=True)
                started = time.monotonic()
                sim.start()
                while not done.is_set():
                    samples.append((time.monotonic() - started, lag() or 0))
                    time.sleep(0.5)
                sim.join()
                achieved = sim_result["stats"].rate
                second_half = [v for t, v in samples if t >= self.options.sustained_seconds / 2]
                worst = max(second_half or [0])
                passed = worst <= rate * 3
                steps.append(
                    {"rate": rate, "achieved": round(achieved, 1), "max_lag_second_half": worst, "passed": passed}
                )
                if achieved < 0.9 * rate:
                    limited = True
                    steps[-1]["source_limited"] = True
                    if passed:
                        best = achieved
                    break
                if not passed:
                    break
                best = rate
                self._wait_caught_up(lag)
        finally:
            stop.set()
            thread.join(timeout=300)
        return {
            "highest_bounded_rate": best,
            "source_limited": limited,
            "steps": steps,
            "step_seconds": self.options.sustained_seconds,
        }

    # -- the whole run -------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.options.validate()
        r = self.reporter
        self.result = {
            "started_at": datetime.now(UTC).isoformat(),
            "machine": machine_details(),
            "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.__dict__.items()},
        }
        try:
            with r.task("bench: preparing an isolated source, connector and topics"):
                self.prepare()
            with r.task(f"bench: filling the topics with {self.options.events:,} changes"):
                self.result["fill"] = self.fill()
            drain: dict[str, Any] = {}
            default_format: dict[str, Any] = {}
            for engine in self.options.engines:
                with r.task(f"bench: {engine} draining {self.records:,} records (JSON with schemas)"):
                    drain[engine] = self.drain(engine)
                with r.task(f"bench: {engine} draining {self.records:,} records (the pipeline's schemaless JSON)"):
                    default_format[engine] = self.drain(engine, plain=True)
            self.result["drain_default_format"] = default_format
            if "jdbc" in self.options.peers:
                with r.task("bench: Debezium JDBC sink draining the same topics"):
                    drain["jdbc_sink"] = peers.run_jdbc_sink(self.settings, self.names, self.topics(), self.records)
            if "native" in self.options.peers:
                with r.task("bench: PostgreSQL logical replication applying the same changes"):
                    self.result["native"] = peers.run_native(self.settings, self.names, self.end_lsn, self.changes)
            self.result["drain"] = drain
            fresh: dict[str, Any] = {}
            for engine in self.options.engines:
                with r.task(f"bench: {engine} freshness at {self.options.rate:,.0f} changes/s"):
                    fresh[engine] = self.freshness(engine)
            self.result["freshness"] = fresh
            if self.options.sustained_seconds > 0:
                sustained: dict[str, Any] = {}
                for engine in self.options.engines:
                    with r.task(f"bench: {engine} sustained-rate search"):
                        sustained[engine] = self.sustained(engine)
                self.result["sustained"] = sustained
            self.result["ratios"] = ratios(self.result)
        finally:
            if not self.options.keep:
                self.cleanup()
                for engine in self.options.engines:
                    for phase in ("drain", "drain_plain", "fresh", "sustained"):
                        drop_database(self.settings, self.names.warehouse(engine, phase))
                for db in (self.names.source_db, self.names.native_db, self.names.jdbc_db):
                    drop_database(self.settings, db)
        self.result["finished_at"] = datetime.now(UTC).isoformat()
        return self.result


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    drain = result.get("drain", {})
    jdbc = (drain.get("jdbc_sink") or {}).get("events_per_s")
    native = (result.get("native") or {}).get("rows_per_s")
    for engine in ENGINES:
        rate = (drain.get(engine) or {}).get("events_per_s")
        if rate is None:
            continue
        out[f"{engine}_vs_jdbc_sink"] = round(rate / jdbc, 2) if jdbc else None
        out[f"{engine}_vs_native"] = round(rate / native, 2) if native else None
    return out


def machine_details() -> dict[str, Any]:
    import subprocess

    memory = None
    try:
        with open("/proc/meminfo") as fh:
            memory = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[:1]
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None)
    except OSError:
        cpu = None
    cpu = cpu or platform.processor()
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "java": java[0] if java else None,
        "aladia": __version__,
        "kafka": versions.KAFKA_VERSION,
        "debezium": versions.DEBEZIUM_VERSION,
        "spark": versions.installed_version("pyspark"),
        "beam": versions.installed_version("apache-beam"),
    }
