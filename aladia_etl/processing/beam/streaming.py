"""`aladia stream --engine beam`: one long-running unbounded Beam pipeline on Beam's portable local runner, Prism.

    Impulse → DiscoverPartitions → FirstSight
                             (the topics' partitions at once and every 2 s: one found later is read too)
      → ReadKafkaPartition   (a splittable DoFn over each partition's open offset range from the warehouse's
                              applied offset: chunks of records)
      → Partition into STAGE_WORKERS branches
      → StageChunk           (one per branch, each in a worker process of its own: the one processing path, COPY
                              into staging under the chunk's token; emits the chunk's descriptor)
      → Flatten → WindowInto(GlobalWindows, Repeatedly(AfterAny(AfterProcessingTime(pane), AfterCount(n))))
      → key → GroupByKey     (a pane: the descriptors staged since the last firing)
      → ApplyChunks          (one warehouse transaction: the chunks that continue the warehouse's offsets)

No step shares memory with this process: each gets plain data (its `RunSpec`) and talks to Kafka and the warehouse,
where the stream's control row carries the stop request, a step's failure and its outages (`warehouse.control`),
and applied batches are what this process reports. On Prism, steps of distinct environments run in distinct SDK
worker processes: the reader, each stager and the apply step each get one (`--experiments=
use_loopback_process_worker`; the environments differ by a resource hint). The same pipeline runs on any portable
job server (`--runner PortableRunner --pipeline-option --job_endpoint=host:port`).
It starts from the offsets applied to the warehouse, so a crash loses nothing and replays only unapplied records.
A stop (Ctrl-C, SIGTERM, --until-idle, --duration) asks the readers to finish their ranges: the pipeline applies
every chunk read and ends DONE.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aladia_etl.core.errors import AladiaError, ServiceUnavailable
from aladia_etl.core.settings import Settings
from aladia_etl.processing.model import StreamOptions, StreamProgress
from aladia_etl.processing.resilience import Outage
from aladia_etl.warehouse import control, loader
from aladia_etl.warehouse.staging import StageStats

if TYPE_CHECKING:
    from apache_beam.runners.runner import PipelineResult

ENGINE = "beam"
DEFAULT_PANE_S = 0.1
CHUNK = 5_000
STALL_S = 120.0  # staged chunks waiting this long with nothing applied: the pipeline is relaunched
MAX_ENDED_RUNS = 5  # jobs ending on their own, in a row without a batch applied, before the stream gives up
_PRISM_LOST: list[str] = []  # this process lost a Prism: Beam's shared one is dead, every launch starts its own
STAGE_WORKERS = 2  # stager processes (this machine class has 2 cores; the reader and the apply step have their own)
log = logging.getLogger("aladia.beam")

PRISM_NAMES = (None, "", "prism", "PrismRunner")
ENDED = ("DONE", "FAILED", "CANCELLED", "STOPPED")
UNREACHABLE = "UNREACHABLE"  # the job service does not answer: with Prism, the runner is gone with its job


def pane_trigger(seconds: float, chunks: int):
    """Fire a pane `seconds` after its first chunk, or at `chunks` chunks. (Beam 2.77 cannot translate a
    sub-second AfterProcessingTime: its delay becomes a float number of milliseconds.)"""
    from apache_beam.portability.api import beam_runner_api_pb2 as api
    from apache_beam.transforms import trigger

    class _AfterMillis(trigger.AfterProcessingTime):
        def to_runner_api(self, context):
            delay = api.TimestampTransform.Delay(delay_millis=max(1, round(self.delay * 1000)))
            return api.Trigger(
                after_processing_time=api.Trigger.AfterProcessingTime(
                    timestamp_transforms=[api.TimestampTransform(delay=delay)]
                )
            )

    return trigger.Repeatedly(trigger.AfterAny(_AfterMillis(seconds), trigger.AfterCount(chunks)))


def staged_by(chunk: dict, branches: int) -> int:
    """Which stager takes a chunk: spread by partition and offset (any stager may take any chunk)."""
    return zlib.crc32(f"{chunk['topic']}/{chunk['partition']}/{chunk['start']}".encode()) % branches


class BeamStreamingEngine:
    def __init__(self, settings: Settings, options: StreamOptions, progress: StreamProgress) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.stream_id = options.stream_name
        self.result: PipelineResult | None = None
        self.run_id: str | None = None
        self.failure: dict | None = None
        self.stopping = False
        self._conn: Any = None  # psycopg's Connection, opened on the first read
        self._read_at = float("-inf")
        self._seen_batch: int | None = None
        self._launched_at = self._last_batch_at = time.monotonic()
        self._retrying: dict[str, str | None] = {}
        self._waiting = 0
        self._ended_runs = 0  # jobs that ended on their own since the last batch applied
        self._restart = Outage("the Beam pipeline", options.max_outage_s, lambda s: progress.note_retry(s, "runner"))
        self._warehouse = Outage(
            "the warehouse (the stream's control row)", options.max_outage_s, lambda s: progress.note_retry(s, "apply")
        )

    # -- the pipeline ----------------------------------------------------------------------------------------
    def runner_flags(self) -> list[str]:
        flags = list(self.options.pipeline_options)
        runner = self.options.runner
        if runner in PRISM_NAMES:
            from aladia_etl.processing.beam.interrupts import prism_launcher
            from aladia_etl.stack.prism import ensure_prism

            flags += [
                "--runner=PrismRunner",
                f"--prism_location={prism_launcher(self.settings, ensure_prism(self.settings))}",
                "--prism_log_level=error",
            ]
            if _PRISM_LOST:  # Beam keeps one Prism per process and would submit to the dead one again
                flags.append("--experiments=disable_prism_server_singleton")
        else:
            flags.append(f"--runner={runner}")
        if not any(f.startswith("--environment_type") for f in flags):
            # LOOPBACK served by worker processes (one per environment), not by threads of this process
            flags += ["--environment_type=LOOPBACK", "--experiments=use_loopback_process_worker"]
        return [*flags, "--streaming"]

    def _launch(self) -> None:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
        from apache_beam.transforms.window import GlobalWindows

        from aladia_etl.bus.topics import cdc_topics
        from aladia_etl.core.signals import keeping_the_sigint_handler
        from aladia_etl.processing.beam.control import worker_name
        from aladia_etl.processing.beam.discovery import DiscoverPartitions, FirstSight
        from aladia_etl.processing.beam.interrupts import worker_python
        from aladia_etl.processing.beam.kafka_source import ReadKafkaPartition
        from aladia_etl.processing.beam.panes import ApplyChunks, StageChunk
        from aladia_etl.processing.continuity import resume_positions
        from aladia_etl.stack.connections import closing, consumer

        with loader.connect(self.settings) as conn:
            # first a new run: an older run's apply in flight ends before, and none starts after, so the positions
            # read next are final
            self.run_id = control.begin_run(conn, ENGINE, self.stream_id)
            with closing(consumer(self.settings, group_id=None)) as kafka:
                # the gap check and the start positions come from one read of Kafka's offsets
                resume = resume_positions(self.settings, conn, kafka, ENGINE, self.options.accept_data_loss)
            loader.clear_stage_prefix(conn, f"{ENGINE}:{self.stream_id}:")  # what a killed or older run staged
            if self._seen_batch is None:  # the first launch: batches from here on are this stream's
                self._seen_batch = loader.next_batch_id(conn, ENGINE, self.stream_id) - 1
        self._launched_at = time.monotonic()
        self.failure = None
        spec = {
            "conninfo": self.settings.postgres.conninfo(self.settings.postgres.warehouse_db),
            "engine": ENGINE,
            "stream": self.stream_id,
            "run_id": self.run_id,
            "max_outage_s": self.options.max_outage_s,
            "log_file": str(self.worker_log()),
        }
        pane_s = self.options.trigger_interval or DEFAULT_PANE_S
        chunks_per_pane = max(1, self.options.max_records_per_batch // CHUNK)
        dlq = {"kafka": self.settings.kafka.client(), "topic": self.options.dlq_topic}
        # a worker process runs `python` from PATH: the one running aladia, deaf to the terminal's Ctrl-C
        # (once: a relaunch finds them there)
        path = os.environ.get("PATH", "").split(os.pathsep)
        first = [str(worker_python(self.settings)), os.path.dirname(sys.executable)]
        os.environ["PATH"] = os.pathsep.join([*first, *(p for p in path if p not in first)])
        pipeline = beam.Pipeline(options=PipelineOptions(self.runner_flags()))
        kafka_config = self.settings.kafka.client()
        starts = {f"{t}/{p}": start for (t, p), start in resume.starts.items()}
        topics = cdc_topics(self.settings)
        read = (
            pipeline
            | "Start" >> beam.Impulse()
            | "Find partitions" >> beam.ParDo(DiscoverPartitions(spec, kafka_config, topics, resume.topic_ids))
            | "Each partition once" >> beam.ParDo(FirstSight(spec, starts))
            | "Read Kafka" >> beam.ParDo(ReadKafkaPartition(spec, kafka_config, CHUNK))
        )
        branches = read | "Spread" >> beam.Partition(staged_by, STAGE_WORKERS)  # type: ignore[arg-type]
        staged = [
            branch
            | f"Stage {n + 1}"
            >> beam.ParDo(StageChunk(spec, dlq, self.options.sinks)).with_resource_hints(min_ram=f"{n + 1}MB")
            for n, branch in enumerate(branches)
        ]
        _ = (
            staged
            | "Staged" >> beam.Flatten()
            | "Panes"
            >> beam.WindowInto(
                GlobalWindows(),
                trigger=pane_trigger(pane_s, chunks_per_pane),
                accumulation_mode=beam.transforms.trigger.AccumulationMode.DISCARDING,
            )
            | "One key" >> beam.Map(lambda descriptor: (0, descriptor))
            | "Group a pane" >> beam.GroupByKey()
            | "Apply"
            >> beam.ParDo(ApplyChunks(spec, self.options.sinks)).with_resource_hints(
                min_ram=f"{STAGE_WORKERS + 1}MB"  # an environment (so a worker process) of its own
            )
        )
        with keeping_the_sigint_handler():  # Beam's job server would stop Prism on Ctrl-C, before the drain
            self.result = pipeline.run()
        self.progress.pipeline = {
            "runner": self.options.runner or "PrismRunner",
            "started_at": datetime.now(UTC).isoformat(),
            "pane_s": pane_s,
            "stage_workers": STAGE_WORKERS,
            "launched_by": worker_name(),  # host:pid (the steps run in other processes)
        }
        log.info("Beam pipeline started on %s", self.progress.pipeline["runner"], extra={"engine": ENGINE})

    def worker_log(self):
        """Where the SDK worker processes log (what they would otherwise write to the inherited stderr)."""
        logs = self.settings.logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"beam-{self.stream_id}-workers.log"

    # -- what the steps recorded in the warehouse --------------------------------------------------------------
    def _read_warehouse(self, force: bool = False) -> None:
        """At most once a second (or now, with `force`): the control row (a step's failure, its outages), the
        batches applied since the last read (into the progress) and how many staged chunks wait."""
        now = time.monotonic()
        if not force and now - self._read_at < control.READ_EVERY_S:
            return
        self._read_at = now
        try:
            if self._conn is None or self._conn.closed:
                self._conn = loader.connect(self.settings)
            found = control.read(self._conn, ENGINE, self.stream_id)
            batches = self._conn.execute(BATCHES, (ENGINE, self.stream_id, self._seen_batch)).fetchall()
            self._waiting = self._conn.execute(WAITING, (ENGINE, self.stream_id, self.run_id)).fetchone()[0]
        except Exception as exc:  # noqa: BLE001 - classified by the outage: fatal, or too long, raises
            self._drop_connection()
            self._warehouse.failed(exc)
            return
        if self._warehouse.active:  # back from an outage: the quiet time counts from now
            self._last_batch_at = now
        self._warehouse.recovered()
        if found.run_id == self.run_id and found.failure is not None:
            self.failure = found.failure
        for part in ("source", "staging", "apply"):
            status = found.retrying.get(part)
            if status != self._retrying.get(part):
                self.progress.note_retry(status, part)
                self._retrying[part] = status
        for batch_id, records, rows, dead, tombstones, duration_ms, by_table, ago_s in batches:
            stats = StageStats(records=records, dead_letters=dead, tombstones=tombstones)
            stats.rows.update(by_table or {})
            del rows
            result = loader.ApplyResult(applied=True, stats=stats)
            self.progress.record_batch(result, (duration_ms or 0) / 1000, batch_id, ended_ago_s=float(ago_s))
            self._seen_batch = batch_id
            self._last_batch_at = now
            self._ended_runs = 0

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    # -- engine protocol ---------------------------------------------------------------------------------------
    def start(self) -> None:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        self._launch()

    def check(self) -> None:
        self._read_warehouse()
        if self.failure is not None:
            raise control.failure_error(self.failure)
        if self.result is None or self.stopping:
            return
        name = self.job_state()
        if name.endswith((*ENDED, UNREACHABLE)):
            self._read_warehouse(force=True)  # a failure a step recorded just before the job ended is raised
            if self.failure is not None:
                raise control.failure_error(self.failure)
            if name == UNREACHABLE:
                _PRISM_LOST.append(name)
            self._ended_runs += 1
            if self._ended_runs > MAX_ENDED_RUNS:
                raise AladiaError(
                    f"the Beam pipeline ended {self._ended_runs} times without applying a batch (last: {name})",
                    f"see {self.worker_log()}; nothing was lost: a restart resumes from the warehouse's offsets",
                )
            self._relaunch(
                ServiceUnavailable(
                    f"the Beam pipeline ended in state {name}",
                    "the stream relaunches it from the warehouse's offsets; see the workers' log if it keeps ending",
                )
            )
        elif self._stalled():
            self._read_warehouse(force=True)  # a failure recorded meanwhile is raised, not cleared by a new run
            if self.failure is not None:
                raise control.failure_error(self.failure)
            self.progress.note(
                f"the Beam pipeline applied nothing for {STALL_S:.0f} s while {self._waiting} staged chunk(s) "
                "waited: relaunched from the warehouse's offsets"
            )
            with contextlib.suppress(Exception):  # a job whose runner went away meanwhile
                self.result.cancel()
            self._relaunch(ServiceUnavailable("the Beam pipeline stalled", "it is relaunched"))

    def _stalled(self) -> bool:
        """Chunks staged and registered, yet none applied for STALL_S: no chunk of this run continues the
        warehouse's offsets (its registration lost, e.g. UNLOGGED tables emptied by a PostgreSQL crash)."""
        quiet_since = max(self._last_batch_at, self._launched_at)
        return not self._warehouse.active and self._waiting > 0 and time.monotonic() - quiet_since > STALL_S

    def job_state(self) -> str:
        """The job's state as the runner reports it; UNREACHABLE when its job service does not answer (Prism
        ends with its job, so asking after the end can fail with a gRPC error)."""
        if self.result is None:  # not launched
            return UNREACHABLE
        try:
            return str(self.result.state)
        except Exception:  # noqa: BLE001 - any failure to ask means nobody runs the job any more
            return UNREACHABLE

    def _relaunch(self, why: BaseException) -> None:
        """The job ended on its own (the runner lost, a worker failure): start it again from the warehouse's
        offsets, with backoff. The new run's id makes every step of the old one stop; what the old one staged is
        cleared; an apply of it still in its transaction ends before the new run begins, and a later one finds its
        run replaced and applies nothing."""
        now = time.monotonic()
        if self._restart.next_attempt_at is not None and now < self._restart.next_attempt_at:
            return
        if not self._restart.active:
            self.progress.note(f"{getattr(why, 'reason', why)}: relaunched from the warehouse's offsets")
        try:
            self._launch()
            self._restart.recovered()
        except BaseException as exc:  # noqa: BLE001 - classified by failed()
            self._restart.failed(exc if self._restart.active else why, now)

    def busy(self) -> bool:
        return self.result is None or self._waiting > 0

    def stop(self) -> None:
        """Ask the readers to finish: every chunk read is staged and applied, then the job ends DONE."""
        self.stopping = True
        asked = False
        if self.run_id is not None:
            with contextlib.suppress(Exception), loader.connect(self.settings) as conn:
                control.request_stop(conn, ENGINE, self.stream_id, self.run_id)
                asked = True
        if self.result is not None:
            if asked:
                with contextlib.suppress(Exception):  # a job that failed or was cancelled: nothing more to apply
                    self.result.wait_until_finish(duration=120_000)
            # else the warehouse is away: nothing can be applied, and the offsets it holds are where a restart begins
            if not self.job_state().endswith((*ENDED, UNREACHABLE)):
                with contextlib.suppress(Exception):  # cancelling a job whose runner just went away
                    self.result.cancel()
        with contextlib.suppress(Exception):  # the last batches and a failure met while draining
            self._read_warehouse(force=True)
        self._drop_connection()
        if self.failure is not None:
            raise control.failure_error(self.failure)


BATCHES = """
SELECT batch_id, records, rows, dead_letters, tombstones, duration_ms, rows_by_table,
       extract(epoch FROM clock_timestamp() - applied_at) FROM pipeline_batches
 WHERE engine = %s AND stream_id = %s AND batch_id > %s ORDER BY batch_id
"""
WAITING = "SELECT count(*) FROM stg_beam_chunks WHERE engine = %s AND stream_id = %s AND run_id = %s"
