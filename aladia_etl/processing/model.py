"""What a stream is, independently of how it runs: its options, its progress, the protocol an engine implements,
and the one registry of engines (used for validation by `stream`, `demo` and `bench`).

Engines import this module; the stream loop (`processing.loop`) imports the engines through the registry.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from aladia_etl.bus.topics import DLQ_TOPIC
from aladia_etl.core.errors import UsageError
from aladia_etl.warehouse.loader import ApplyResult

log = logging.getLogger("aladia.stream")

# name → "module:class"; imported only when that engine runs (pyspark and apache_beam are heavy).
ENGINES: dict[str, str] = {
    "spark": "aladia_etl.processing.spark.engine:SparkEngine",
    "beam": "aladia_etl.processing.beam.engine:BeamEngine",  # picks the runner: Prism streaming, or fnapi
}


def check_engine(name: str) -> str:
    """The engine's name, case-insensitively (`Spark` is spark)."""
    name = name.strip().lower()
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r}", f"choose one of: {', '.join(ENGINES)}")
    return name


def engine_class(name: str) -> type:
    module, _, cls = ENGINES[check_engine(name)].partition(":")
    return getattr(importlib.import_module(module), cls)


@dataclass
class StreamOptions:
    engine: str = "spark"
    until_idle: bool = False
    duration: float | None = None
    max_batches: int | None = None
    trigger_interval: float | None = None  # None: the engine's default (Spark 0.25 s, Beam panes 0.1 s)
    from_beginning: bool = False
    settle_s: float = 2.0
    stream_name: str = "default"
    dlq_topic: str = DLQ_TOPIC
    accept_data_loss: bool = False  # record a gap (records deleted before they were applied) and continue
    max_outage_s: float = 300.0  # a service unreachable for longer stops the stream (non-zero exit)
    max_records_per_batch: int = 500_000
    metrics_port: int | None = None  # serve the stream's own /metrics on 127.0.0.1:PORT
    # Spark
    master: str = "local[*]"
    conf: dict[str, str] = field(default_factory=dict)
    # the checkpoint of this run's first query: kept when the run captures a new table (its topics, which name
    # checkpoints, grew), so the query resumes and reads only the new topic from its start; moved to the grown set's
    # name (`checkpoints.carry`), where the next start finds it
    checkpoint: Path | None = None
    # Beam
    runner: str | None = None
    pipeline_options: list[str] = field(default_factory=list)
    # The pipeline's sinks as plain data (`CompiledPipeline.spec()`); None: the built-in orders model
    sinks: list[dict] | None = None
    allow_destructive: bool = False  # apply a destructive warehouse plan (drop or narrow a column, drop a table)
    # The pipeline file as read when the stream started (`core.pipeline.Pipeline`: its tables are compiled again
    # from the source catalog when their columns change while the stream runs) and its schema_changes policy;
    # None: the built-in pipeline
    pipeline: object | None = None
    schema_changes: dict[str, str] = field(default_factory=dict)

    def compiled_sinks(self):
        """The sinks as objects (None: the built-in pipeline's)."""
        if self.sinks is None:
            return None
        from aladia_etl.warehouse.sinks import Sink

        return tuple(Sink.from_dict(s) for s in self.sinks)


@dataclass
class StreamProgress:
    engine: str
    stream: str = "default"
    state: str = "starting"
    batches: int = 0  # applied
    skipped: int = 0  # replayed batches found already applied
    # A long-running pipeline's runner and start time (Beam on Prism), reported once for its whole life
    pipeline: dict | None = None
    records: int = 0
    rows: int = 0
    dead_letters: int = 0
    lag: int | None = None
    started_at: float = field(default_factory=time.monotonic)
    first_batch_at: float | None = None
    first_batch_end: float | None = None
    stopped_reason: str | None = None
    last_batch_s: float | None = None
    busy_s: float = 0.0  # time spent inside batches
    last_batch_end: float | None = None
    # What the stream is retrying, per part ("warehouse unreachable …, retrying in 4 s, 3rd attempt"), while it is
    retries: dict[str, str] = field(default_factory=dict)
    # The outages this stream rode out, newest last (kept after they end, for the operator): part, what was
    # first reported, when it began and ended (wall-clock ISO times), how many retry attempts it took
    outages: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the engine decided that the user should know
    # Columns added to or dropped from mirrored tables, as the policy handled them: {table, kind, column, outcome, at}
    schema_changes: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def note_schema_change(self, change: dict[str, str]) -> None:
        with self._lock:
            self.schema_changes.append({**change, "at": datetime.now(UTC).isoformat()})

    def note_retry(self, status: str | None, part: str = "engine") -> None:
        """Called by an Outage: a status while retrying, None once recovered."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            if status is None:
                was = self.retries.pop(part, None)
                if was is not None:
                    for outage in reversed(self.outages):
                        if outage["part"] == part and outage["ended_at"] is None:
                            outage["ended_at"] = now
                            break
            else:
                was, self.retries[part] = self.retries.get(part), status
                if was is None:
                    self.outages.append(
                        {"part": part, "first": status, "began_at": now, "ended_at": None, "attempts": 1}
                    )
                    del self.outages[:-10]
                else:
                    for outage in reversed(self.outages):
                        if outage["part"] == part and outage["ended_at"] is None:
                            outage["attempts"] += 1
                            break
        context = {"engine": self.engine, "stream": self.stream, "part": part}
        if status is not None:
            log.warning("retrying: %s", status, extra=context)
        elif was is not None:
            log.info("recovered: the outage is over (%s)", part, extra=context)

    @property
    def retrying(self) -> str | None:
        return "; ".join(self.retries.values()) or None

    def record_batch(
        self, result: ApplyResult, seconds: float, batch_id: int | None = None, ended_ago_s: float = 0.0
    ) -> None:
        """`ended_ago_s`: how long ago the batch was applied, when it is learnt later (Beam reads its batches from
        the warehouse)."""
        stats = result.stats
        context = {"engine": self.engine, "stream": self.stream, "batch_id": batch_id}
        if result.applied:
            log.info(
                "batch %s applied: %d records, %d rows, %d dead letters in %.3f s",
                batch_id,
                stats.records,
                stats.row_count,
                stats.dead_letters,
                seconds,
                extra={
                    **context,
                    "records": stats.records,
                    "rows": stats.row_count,
                    "dead_letters": stats.dead_letters,
                    "tombstones": stats.tombstones,
                    "duration_s": round(seconds, 4),
                },
            )
        else:
            log.info("batch %s was applied before: replay skipped", batch_id, extra=context)
        ended = time.monotonic() - max(0.0, ended_ago_s)
        with self._lock:
            if self.first_batch_at is None:
                self.first_batch_at = ended - seconds
                self.first_batch_end = ended
            if result.applied:
                self.batches += 1
                self.rows += stats.row_count
                self.dead_letters += stats.dead_letters
            else:
                self.skipped += 1
            self.records += stats.records
            self.last_batch_s = seconds
            self.busy_s += seconds
            self.last_batch_end = ended

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
            "stream": self.stream,
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
            "retrying": self.retrying,
            "outages": [dict(o) for o in self.outages],
            "notes": list(self.notes),
            "schema_changes": [dict(c) for c in self.schema_changes],
            "pipeline": self.pipeline,
            "drain_s": None if self.drain_s is None else round(self.drain_s, 3),
            "first_batch_after_s": None
            if self.first_batch_end is None
            else round(self.first_batch_end - self.started_at, 2),
        }


class Engine(Protocol):
    """How an engine plugs into the stream loop. Constructed with (settings, options, progress)."""

    def start(self) -> None: ...

    def check(self) -> None: ...  # raise if the engine failed

    def busy(self) -> bool: ...

    def stop(self) -> None: ...
