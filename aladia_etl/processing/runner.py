"""The stream loop both engines share: start the engine, watch lag and stop conditions, render progress,
stop gracefully (Ctrl-C / SIGTERM / --duration / --max-batches / --until-idle)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aladia_etl.errors import UsageError
from aladia_etl.interrupts import stop_on_signals
from aladia_etl.processing.staging import StageStats
from aladia_etl.settings import Settings
from aladia_etl.source.schema import CAPTURED_TABLES
from aladia_etl.warehouse import loader
from aladia_etl.warehouse.schema import ensure_schema

ENGINES = ("spark", "beam")


@dataclass
class StreamOptions:
    engine: str = "spark"
    until_idle: bool = False
    duration: float | None = None
    max_batches: int | None = None
    trigger_interval: float = 1.0
    from_beginning: bool = False
    settle_s: float = 2.0
    stream_name: str = "default"
    dlq_topic: str = "aladia.dlq"
    max_records_per_batch: int = 500_000
    # Spark
    master: str = "local[*]"
    conf: dict[str, str] = field(default_factory=dict)
    # Beam
    runner: str | None = None
    pipeline_options: list[str] = field(default_factory=list)


@dataclass
class StreamProgress:
    engine: str
    state: str = "starting"
    batches: int = 0  # applied
    skipped: int = 0  # replayed batches found already applied
    records: int = 0
    rows: int = 0
    dead_letters: int = 0
    lag: int | None = None
    started_at: float = field(default_factory=time.monotonic)
    first_batch_at: float | None = None
    stopped_reason: str | None = None
    last_batch_s: float | None = None
    busy_s: float = 0.0  # time spent inside batches
    last_batch_end: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_batch(self, stats: StageStats, applied: bool, seconds: float) -> None:
        with self._lock:
            if self.first_batch_at is None:
                self.first_batch_at = time.monotonic() - seconds
            if applied:
                self.batches += 1
                self.rows += stats.row_count
                self.dead_letters += stats.dead_letters
            else:
                self.skipped += 1
            self.records += stats.records
            self.last_batch_s = seconds
            self.busy_s += seconds
            self.last_batch_end = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_at

    @property
    def drain_s(self) -> float | None:
        """From the start of the first batch to the end of the last one."""
        if self.first_batch_at is None or self.last_batch_end is None:
            return None
        return self.last_batch_end - self.first_batch_at

    @property
    def events_per_s(self) -> float:
        """Records per second of processing time (time inside batches)."""
        return self.records / self.busy_s if self.busy_s > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "engine": self.engine,
            "state": self.state,
            "batches": self.batches,
            "skipped_batches": self.skipped,
            "records": self.records,
            "rows": self.rows,
            "dead_letters": self.dead_letters,
            "lag": self.lag,
            "elapsed_s": round(self.elapsed_s, 2),
            "busy_s": round(self.busy_s, 3),
            "events_per_s": round(self.events_per_s, 1),
            "stopped_reason": self.stopped_reason,
            "drain_s": None if self.drain_s is None else round(self.drain_s, 3),
        }


class Engine(Protocol):
    def start(self) -> None: ...

    def check(self) -> None: ...  # raise if the engine failed

    def busy(self) -> bool: ...

    def stop(self) -> None: ...


def cdc_topic_pattern(settings: Settings) -> str:
    prefix = settings.cdc.topic_prefix.replace(".", r"\.")
    return rf"{prefix}\.public\.({'|'.join(CAPTURED_TABLES)})"


class LagMeter:
    """Kafka end offsets of the CDC topics minus the offsets the engine has applied to the warehouse;
    also commits the applied offsets to the engine's consumer group so `aladia topics --groups` shows them."""

    def __init__(self, settings: Settings, engine: str) -> None:
        from aladia_etl.bus.kafka import consumer

        self.settings = settings
        self.engine = engine
        self.group = f"aladia-{engine}"
        self._consumer = consumer(settings, group_id=self.group, enable_auto_commit=False)
        self._committed: dict = {}

    def topics(self) -> list[str]:
        from aladia_etl.cdc.connector import cdc_topics

        known = self._consumer.topics()
        return [t for t in cdc_topics(self.settings) if t in known]

    def measure(self, conn) -> int:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        tps = [TopicPartition(t, p) for t in self.topics() for p in (self._consumer.partitions_for_topic(t) or [])]
        if not tps:
            return 0
        ends = self._consumer.end_offsets(tps)
        begins = self._consumer.beginning_offsets(tps)
        applied = loader.applied_offsets(conn, self.engine)
        lag = sum(max(0, ends[tp] - max(applied.get((tp.topic, tp.partition), 0), begins[tp])) for tp in tps)
        commit = {
            tp: OffsetAndMetadata(applied[(tp.topic, tp.partition)], "", -1)
            for tp in tps
            if (tp.topic, tp.partition) in applied
        }
        if commit and commit != self._committed:
            with contextlib.suppress(Exception):  # a failed commit only delays what `topics --groups` shows
                self._consumer.commit(commit)
                self._committed = commit
        return lag

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._consumer.close()


def make_engine(settings: Settings, options: StreamOptions, progress: StreamProgress) -> Engine:
    if options.engine == "spark":
        from aladia_etl.processing.spark.engine import SparkEngine

        return SparkEngine(settings, options, progress)
    if options.engine == "beam":
        from aladia_etl.processing.beam.engine import BeamEngine

        return BeamEngine(settings, options, progress)
    raise UsageError(f"unknown engine {options.engine!r}", f"choose one of: {', '.join(ENGINES)}")


def run_stream(
    settings: Settings,
    options: StreamOptions,
    on_progress: Callable[[StreamProgress], None] | None = None,
    stop: threading.Event | None = None,
    idle_gate: threading.Event | None = None,
) -> StreamProgress:
    """Run the engine until a stop condition. With --until-idle, idleness only counts once `idle_gate` (when
    given) is set — `aladia demo` sets it when its simulator has finished."""
    if options.engine not in ENGINES:
        raise UsageError(f"unknown engine {options.engine!r}", f"choose one of: {', '.join(ENGINES)}")
    stop = stop or threading.Event()
    progress = StreamProgress(options.engine)
    conn = loader.connect(settings)
    with conn.transaction():
        ensure_schema(conn)
    if options.from_beginning:
        loader.reset_offsets(conn, options.engine)
    meter = LagMeter(settings, options.engine)
    engine = make_engine(settings, options, progress)
    idle_since: float | None = None
    try:
        with stop_on_signals(stop):
            engine.start()
            progress.state = "running"
            while True:
                stop.wait(0.25)
                engine.check()
                progress.lag = meter.measure(conn)
                if on_progress:
                    on_progress(progress)
                now = time.monotonic()
                if stop.is_set():
                    progress.stopped_reason = "signal"
                elif options.duration is not None and progress.elapsed_s >= options.duration:
                    progress.stopped_reason = "duration"
                elif options.max_batches is not None and progress.batches + progress.skipped >= options.max_batches:
                    progress.stopped_reason = "max-batches"
                elif options.until_idle and (idle_gate is None or idle_gate.is_set()):
                    if progress.lag == 0 and not engine.busy():
                        idle_since = idle_since or now
                        if now - idle_since >= options.settle_s:
                            progress.stopped_reason = "idle"
                    else:
                        idle_since = None
                if progress.stopped_reason:
                    break
            progress.state = "stopping"
            if on_progress:
                on_progress(progress)
            engine.stop()
            progress.lag = meter.measure(conn)
            progress.state = "stopped"
    finally:
        meter.close()
        conn.close()
    return progress
