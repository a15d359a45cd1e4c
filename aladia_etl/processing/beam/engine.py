"""`aladia stream --engine beam --runner fnapi`: bounded micro-batches over real Kafka offsets, one Beam pipeline
per batch, on Beam's FnApiRunner (offline; the default Beam engine is the streaming pipeline, `beam.streaming`).

Each batch plans, per partition of every CDC topic, the offset range from the offsets last applied to the
warehouse up to the high-water mark seen at batch start (capped), runs a Beam pipeline over those ranges — a DoFn
reads each range through `bus.reader` and stages it through the shared `processing.bundle.stage` — then applies
the batch in one warehouse transaction, and the stream loop commits the offsets to the `aladia-beam` consumer group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from aladia_etl.bus.offsets import PartitionOffsets
from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings
from aladia_etl.processing.continuity import resume_positions
from aladia_etl.processing.model import StreamOptions, StreamProgress
from aladia_etl.processing.resilience import Outage, Stopped
from aladia_etl.warehouse import loader

if TYPE_CHECKING:
    from psycopg import Connection

ENGINE = "beam"
PARALLEL_THRESHOLD = 50_000


FNAPI_NAMES = ("fnapi", "FnApiRunner")


def pipeline_runner(name: str | None):
    """The micro-batches run on Beam's FnApiRunner, chosen explicitly: it runs offline (DirectRunner would first try
    to download the Prism binary)."""
    if name in FNAPI_NAMES:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return name


def BeamEngine(settings: Settings, options: StreamOptions, progress: StreamProgress):  # a class to its callers
    """The Beam engine for the runner asked for: one long-running unbounded pipeline on Prism (or any portable
    runner), or, with `--runner fnapi`, bounded micro-batches on Beam's in-process FnApiRunner (offline)."""
    if options.runner in FNAPI_NAMES:
        return MicroBatchBeamEngine(settings, options, progress)
    from aladia_etl.processing.beam.streaming import BeamStreamingEngine

    return BeamStreamingEngine(settings, options, progress)


class MicroBatchBeamEngine:
    def __init__(self, settings: Settings, options: StreamOptions, progress: StreamProgress) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.stream_id = options.stream_name
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._kafka = None
        self.sinks = options.compiled_sinks()

    # -- planning ------------------------------------------------------------------------------------------
    @staticmethod
    def split(ranges, size: int = 25_000) -> list[tuple[str, int, int, int]]:
        """Smaller descriptors so that a runner with several workers can share one partition's range."""
        out = []
        for topic, partition, start, end in ranges:
            for lo in range(start, end, size):
                out.append((topic, partition, lo, min(end, lo + size)))
        return out

    # -- one batch -----------------------------------------------------------------------------------------
    def run_batch(self, ranges, batch_id: int, conn: Connection) -> None:
        """Stage the ranges with a Beam pipeline (the stats are recorded in the warehouse by the staging code)."""
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        from aladia_etl.processing.beam.transforms import ReadAndStage

        token = loader.batch_token(ENGINE, self.stream_id, batch_id)
        loader.clear_stage(conn, token)
        conninfo = self.settings.postgres.conninfo(self.settings.postgres.warehouse_db)
        dlq = {"kafka": self.settings.kafka.client(), "topic": self.options.dlq_topic}
        options = PipelineOptions(self.pipeline_flags(sum(end - start for _, _, start, end in ranges)))
        pipeline = beam.Pipeline(runner=pipeline_runner(self.options.runner), options=options)
        _ = (
            pipeline
            | "Offset ranges" >> beam.Create(self.split(ranges))
            | "Read and stage"
            >> beam.ParDo(ReadAndStage(self.settings.kafka.client(), conninfo, token, dlq, self.options.sinks))
        )
        pipeline.run().wait_until_finish()

    def pipeline_flags(self, planned_records: int) -> list[str]:
        """The user's pipeline options; for a large batch on the default local runner, one worker process per
        core (a new process costs about a second, so small batches — the steady state — stay in-process)."""
        flags = list(self.options.pipeline_options)
        default_runner = self.options.runner in FNAPI_NAMES
        user_set = any(f.startswith(("--direct_num_workers", "--direct_running_mode")) for f in flags)
        if default_runner and not user_set and planned_records >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
            flags += [
                f"--direct_num_workers={os.cpu_count()}",
                "--direct_running_mode=multi_processing",
                # the worker processes would otherwise log every channel they open to our stderr
                "--default_sdk_harness_log_level=ERROR",
            ]
        return flags

    def _next_batch_id(self, conn: Connection) -> int:
        return loader.next_batch_id(conn, ENGINE, self.stream_id)

    def _connections(self):
        """The loop's warehouse connection and Kafka client, (re)opened after an outage closed them."""
        from aladia_etl.stack.connections import consumer

        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = loader.connect(self.settings)
        if self._kafka is None:
            # metadata refreshed every 5 s: a topic deleted and created again shows its new id before long
            self._kafka = consumer(self.settings, group_id=None, enable_auto_commit=False, metadata_max_age_ms=5000)
        return self._conn, self._kafka

    def _forget_connections(self) -> None:
        for client in (self._conn, self._kafka):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._conn = self._kafka = None

    def _batch(self, batch_id: int) -> bool:
        """One micro-batch, from the continuity check to the applied transaction; False when there was nothing."""
        tick = time.monotonic()
        try:
            conn, kafka = self._connections()
            # the gap check and the ranges come from one read of Kafka's offsets
            resume = resume_positions(self.settings, conn, kafka, ENGINE, self.options.accept_data_loss)
            ranges = plan_ranges(resume.offsets, resume.starts, self.options.max_records_per_batch)
            if not ranges:
                return False
            self._busy.set()
            self.run_batch(ranges, batch_id, conn)
            result = loader.apply_batch(conn, ENGINE, self.stream_id, batch_id, tick, sinks=self.sinks)
        except BaseException:
            self._forget_connections()
            raise
        finally:
            self._busy.clear()
        self.progress.record_batch(result, time.monotonic() - tick, batch_id)
        return True

    def _loop(self) -> None:
        outage = Outage("Kafka or the warehouse", self.options.max_outage_s, self.progress.note_retry)
        try:
            batch_id = outage.retry(lambda: self._next_batch_id(self._connections()[0]), self._stop)
            while not self._stop.is_set():
                tick = time.monotonic()
                applied = outage.retry(lambda: self._batch(batch_id), self._stop)  # noqa: B023 - called at once
                if applied:
                    batch_id += 1
                remaining = (self.options.trigger_interval or 1.0) - (time.monotonic() - tick)
                if remaining > 0:
                    self._stop.wait(remaining)
        except Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - surfaced by check()
            self._error = exc
        finally:
            self._forget_connections()

    # -- engine protocol -----------------------------------------------------------------------------------
    def start(self) -> None:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        self._thread = threading.Thread(target=self._loop, name="aladia-beam", daemon=True)
        self._thread.start()

    def check(self) -> None:
        if self._error is not None:
            if isinstance(self._error, AladiaError):
                raise self._error
            text = str(self._error).strip().splitlines()
            raise AladiaError(
                f"the Beam micro-batch failed: {type(self._error).__name__}: {text[0] if text else ''}",
                "fix the cause and rerun; the warehouse offsets are unchanged, so nothing is lost",
            )

    def busy(self) -> bool:
        return self._busy.is_set()

    def stop(self) -> None:
        """Finish the batch in flight, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=600)
        self.check()


def plan_ranges(
    offsets: list[PartitionOffsets], applied: dict[tuple[str, int], int], budget: int
) -> list[tuple[str, int, int, int]]:
    """Per partition, [resume position, high-water mark), capped so that the whole batch holds at most `budget`
    records: the budget is shared fairly (a partition with a small backlog takes all of it, the rest is split
    evenly among the others), so no partition starves behind a busy one."""
    backlog = {}
    for o in offsets:
        start = max(applied.get(o.key, 0), o.begin)
        if o.end > start:
            backlog[o.key] = (start, o.end - start)
    grant: dict[tuple[str, int], int] = {}
    remaining = budget
    pending = sorted(backlog, key=lambda k: backlog[k][1])
    while pending:
        share = remaining // len(pending)
        key = pending.pop(0)
        grant[key] = min(backlog[key][1], max(share, 0))
        remaining -= grant[key]
    ranges = []
    for o in offsets:
        if grant.get(o.key):
            start = backlog[o.key][0]
            ranges.append((o.topic, o.partition, start, start + grant[o.key]))
    return ranges
