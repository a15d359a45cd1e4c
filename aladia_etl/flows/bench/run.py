"""`aladia bench`, in one run: prepare an isolated source and its connectors → fill the topics with the workload
generator → drain (each engine, the Debezium JDBC sink, native logical replication; the engines also on four
partitions and with one and two cores) → start-up → freshness → Debezium's capture rate alone → each engine's
sustained rate. The figures come from `flows/bench/phases.py`."""

from __future__ import annotations

import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aladia_etl import __version__
from aladia_etl.core import versions
from aladia_etl.core.errors import AladiaError, UsageError
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar
from aladia_etl.flows.bench import peers, phases
from aladia_etl.flows.bench.setup import (
    VARIANTS,
    BenchNames,
    bench_settings,
    delete_topics,
    drop_database,
    drop_slot,
    forget_checkpoints,
)
from aladia_etl.processing.model import ENGINES

PEERS = ("jdbc", "native")


@dataclass
class BenchOptions:
    engines: tuple[str, ...] = tuple(ENGINES)
    peers: tuple[str, ...] = PEERS
    events: int = 100_000
    rate: float = 1000.0
    duration: float = 30.0
    trigger_interval: float | None = None  # the engines' defaults
    sustained_seconds: float = 60.0
    sustained_rates: tuple[float, ...] = (1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0)
    workers: int = 4  # the generator's connections
    txn_size: int = 10  # changes per transaction
    matrix: bool = True  # also drain on four partitions, and Spark with one and two cores
    keep: bool = False
    pipeline: Path | None = None  # also drain this pipeline file's tables (e.g. a mirror of the bench's source)

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
    _generator: ProcessPoolExecutor | None = field(default=None, init=False, repr=False)

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def src(self) -> Settings:
        return bench_settings(self.settings, self.names, "plain")

    def topics(self, variant: str = "schemas") -> list[str]:
        from aladia_etl.bus.topics import cdc_topics

        return cdc_topics(bench_settings(self.settings, self.names, variant))

    def topic_total(self, variant: str = "schemas") -> int:
        from aladia_etl.bus.offsets import total_records

        return total_records(self.settings, self.topics(variant))

    def simulate(self, rate: float | None, duration: float | None = None, events: int | None = None, **kwargs):
        from aladia_etl.source.workload import simulate

        return simulate(
            self.src,
            rate=rate,
            duration=duration,
            events=events,
            seed=1234,
            workers=self.options.workers,
            txn_size=self.options.txn_size,
            **kwargs,
        )

    def simulate_apart(self, rate: float, duration: float):
        """The generator in a process of its own, started once and reused: an engine measured by the bench runs its
        driver (Spark's foreachBatch, Beam's launcher) in this process, whose interpreter lock it would share with
        the generator's threads — they fell 6 % short of 1,000 changes/s beside either engine, 1 % without one.
        The workload of a user's applications comes from other processes too."""
        if self._generator is None:
            import multiprocessing

            self._generator = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint
            )
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._generator.submit(
                _simulate_apart, self.src, rate, duration, self.options.workers, self.options.txn_size
            ).result()
        except BrokenProcessPool:
            self._generator = None  # the next phase starts another
            raise AladiaError(
                "the bench's workload generator process ended abruptly (killed, or out of memory)",
                "see the kernel log (dmesg) and rerun 'aladia bench'",
            ) from None

    def fresh_warehouse(self, engine: str, phase: str, variant: str = "plain") -> Settings:
        from aladia_etl.flows.bench.setup import recreate_database

        name = self.names.warehouse(engine, phase)
        recreate_database(self.settings, name)
        self._warehouses.add(name)
        target = bench_settings(self.settings, self.names, variant, warehouse_db=name)
        self._targets.append(target)
        return target

    def wait_topics(self, predicate, what: str, variant: str, timeout: float = 600) -> int:
        deadline = time.monotonic() + timeout
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            total = self.topic_total(variant)
            if total != last:
                last, stable_since = total, time.monotonic()
            if predicate(total) and time.monotonic() - stable_since > 1.0:
                return total
            time.sleep(0.25)
        raise AladiaError(
            f"the bench topics did not receive {what} within {timeout:.0f} s (have {last})",
            "see 'aladia cdc list' and the Connect log",
        )

    def wait_quiet(self) -> None:
        """Until Debezium has published everything (the topics' end offsets stop moving)."""
        self.wait_topics(lambda _total: True, "the last changes", "plain")

    # -- preparation -----------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        from aladia_etl.cdc.service import client_for, retire

        client = client_for(self.settings)
        for name in client.connectors():
            if name.startswith("aladia-bench-"):  # this run's, or what a crashed earlier run left
                retire(client, name)  # its task shut down before the topics are deleted below
        for _prefix, slot, _, _ in VARIANTS.values():
            drop_slot(self.settings, slot)
        drop_slot(self.settings, self.names.native_slot)
        for prefix, _, _, _ in VARIANTS.values():
            delete_topics(self.settings, prefix)
        forget_checkpoints(self._targets)

    def variants(self) -> list[str]:
        return list(VARIANTS) if self.options.matrix else ["schemas", "plain"]

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
        # One source, a connector per topic format: with embedded schemas (the JDBC sink needs them; everyone
        # drains these topics for the comparison), and the pipeline's own schemaless JSON on 1 and 4 partitions.
        for variant in self.variants():
            target = bench_settings(self.settings, self.names, variant)
            register(target, self.names.connector(variant), timeout=120, schemas=VARIANTS[variant][2])

    def fill(self) -> dict:
        snapshot = 0
        for variant in self.variants():
            snapshot = self.wait_topics(lambda total: total >= 600, "the snapshot", variant)
        stats = self.simulate(rate=None, events=self.options.events)
        from aladia_etl.source.bootstrap import connect

        with connect(self.src) as conn:
            self.end_lsn = scalar(conn, "SELECT pg_current_wal_lsn()::text")
        expected = snapshot + stats.cdc_records
        for variant in self.variants():
            self.records = self.wait_topics(lambda t: t >= expected, f"{expected} records", variant)
        self.changes = stats.total
        return {
            "changes": stats.total,
            "transactions": stats.transactions,
            "simulate_rate": round(stats.rate, 1),
            "workers": self.options.workers,
            "txn_size": self.options.txn_size,
            "topic_records": self.records,
            "snapshot_records": snapshot,
            "tombstones": stats.deletes,
        }

    # -- the whole run -------------------------------------------------------------------------------------
    def _drains(self) -> None:
        r, engines = self.reporter, self.options.engines
        drain: dict[str, Any] = {}
        default_format: dict[str, Any] = {}
        for engine in engines:
            with r.task(f"bench: {engine} draining {self.records:,} records (JSON with schemas)"):
                drain[engine] = phases.drain(self, engine, "schemas")
            with r.task(f"bench: {engine} draining {self.records:,} records (the pipeline's schemaless JSON)"):
                default_format[engine] = phases.drain(self, engine, "plain")
        self.result["drain_default_format"] = default_format
        if self.options.pipeline is not None:
            pipelined = {}
            for engine in engines:
                with r.task(f"bench: {engine} draining {self.records:,} records into {self.options.pipeline.name}"):
                    pipelined[engine] = phases.drain(self, engine, "plain", pipeline=self.options.pipeline)
            self.result["drain_pipeline"] = {"file": str(self.options.pipeline), **pipelined}
        if self.options.matrix:
            self.result["drain_matrix"] = self._matrix(default_format)
        if "jdbc" in self.options.peers:
            with r.task("bench: Debezium JDBC sink draining the same topics"):
                drain["jdbc_sink"] = peers.run_jdbc_sink(self.settings, self.names, self.topics(), self.records)
        if "native" in self.options.peers:
            with r.task("bench: PostgreSQL logical replication applying the same changes"):
                self.result["native"] = peers.run_native(self.settings, self.names, self.end_lsn, self.changes)
        self.result["drain"] = drain

    def _matrix(self, default_format: dict[str, Any]) -> list[dict[str, Any]]:
        """Each engine on 1 and 4 partitions; Spark also on a standalone cluster of 1 and 2 workers (a core each)."""
        from aladia_etl.stack.spark_cluster import StandaloneCluster

        r, cores = self.reporter, os.cpu_count()
        rows = []
        for engine in self.options.engines:
            rows.append({"engine": engine, "where": f"local, {cores} cores", "partitions": 1, **default_format[engine]})
            with r.task(f"bench: {engine} draining 4 partitions"):
                rows.append(
                    {
                        "engine": engine,
                        "where": f"local, {cores} cores",
                        "partitions": 4,
                        **phases.drain(self, engine, "plain4"),
                    }
                )
        if "spark" in self.options.engines:
            for workers in (1, 2):
                with StandaloneCluster(workers=workers, cores=1) as cluster:
                    for variant in ("plain", "plain4"):
                        partitions = VARIANTS[variant][3]
                        with r.task(f"bench: spark on a {workers}-worker cluster draining {partitions} partition(s)"):
                            figures = phases.drain(self, "spark", variant, cluster.url, f"_{workers}w")
                        rows.append(
                            {
                                "engine": "spark",
                                "where": f"cluster, {workers} worker(s) × 1 core",
                                "workers": workers,
                                "partitions": partitions,
                                **figures,
                            }
                        )
        return rows

    def run(self) -> dict[str, Any]:
        self.options.validate()
        r = self.reporter
        self._warehouses: set[str] = set()
        self._targets: list[Settings] = []
        self._generator = None
        self.result = {
            "started_at": datetime.now(UTC).isoformat(),
            "machine": machine_details(),
            "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.__dict__.items()},
        }
        try:
            with r.task("bench: preparing an isolated source, connectors and topics"):
                self.prepare()
            with r.task(f"bench: filling the topics with {self.options.events:,} changes"):
                self.result["fill"] = self.fill()
            self._drains()
            self.result["startup"] = {}
            for engine in self.options.engines:
                with r.task(f"bench: {engine} start-up from the command line"):
                    self.result["startup"][engine] = phases.startup(self, engine)
            self.result["freshness"] = {}
            for engine in self.options.engines:
                with r.task(f"bench: {engine} freshness at {self.options.rate:,.0f} changes/s"):
                    self.result["freshness"][engine] = phases.freshness(self, engine)
            if self.options.sustained_seconds > 0:
                with r.task("bench: Debezium's capture rate alone"):
                    self.result["capture"] = phases.capture(self)
                self.result["sustained"] = {}
                for engine in self.options.engines:
                    with r.task(f"bench: {engine} sustained-rate search"):
                        self.result["sustained"][engine] = phases.sustained(self, engine)
            self.result["ratios"] = ratios(self.result)
        finally:
            if self._generator is not None:
                self._generator.shutdown(cancel_futures=True)
            if not self.options.keep:
                self.cleanup()
                for db in (*self._warehouses, self.names.source_db, self.names.native_db, self.names.jdbc_db):
                    drop_database(self.settings, db)
        self.result["finished_at"] = datetime.now(UTC).isoformat()
        return self.result


def _ignore_sigint() -> None:
    """The generator process's start: Ctrl-C reaches it with the bench; between steps (waiting for work) it is the
    bench's to handle, and during a step `simulate` installs its own handler (it stops writing and returns)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _simulate_apart(settings: Settings, rate: float, duration: float, workers: int, txn_size: int):
    """`Bench.simulate_apart`'s child process: the workload at `rate` for `duration` seconds (its SimStats)."""
    from aladia_etl.source.workload import simulate

    return simulate(settings, rate=rate, duration=duration, seed=1234, workers=workers, txn_size=txn_size)


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
        # the pipeline file's drain against the built-in model's, on the same (schemaless) topics
        pipelined = (result.get("drain_pipeline") or {}).get(engine, {}).get("events_per_s")
        model = (result.get("drain_default_format") or {}).get(engine, {}).get("events_per_s")
        if pipelined and model:
            out[f"{engine}_pipeline_vs_orders_model"] = round(pipelined / model, 2)
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
