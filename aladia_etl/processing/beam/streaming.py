"""`aladia stream --engine beam`: one long-running unbounded Beam pipeline on Beam's portable local runner, Prism.

    Create(partitions with their applied offsets)
      → ReadKafkaPartition   (a splittable DoFn over each partition's open offset range: chunks of records)
      → WindowInto(GlobalWindows, Repeatedly(AfterAny(AfterProcessingTime(pane), AfterCount(n))), discarding)
      → key → GroupByKey     (a pane: the chunks read since the last firing)
      → ApplyPanes           (the one processing path, then one warehouse transaction with the offsets)

The pipeline runs on Prism with the LOOPBACK environment (the DoFns run in this process), or on any portable job
server (`--runner PortableRunner --pipeline-option --job_endpoint=host:port`), e.g. a Prism job server started apart.
It starts from the offsets applied to the warehouse, so a crash loses nothing and replays only unapplied records.
A stop (Ctrl-C, SIGTERM, --until-idle, --duration) asks the source to finish its ranges: the pipeline applies every
pane in flight and ends DONE.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings
from aladia_etl.processing.beam import shared
from aladia_etl.processing.model import StreamOptions, StreamProgress
from aladia_etl.processing.resilience import Outage
from aladia_etl.warehouse import loader

if TYPE_CHECKING:
    from apache_beam.runners.runner import PipelineResult

ENGINE = "beam"
DEFAULT_PANE_S = 0.3
CHUNK = 5_000
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


class BeamStreamingEngine:
    def __init__(self, settings: Settings, options: StreamOptions, progress: StreamProgress) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.stream_id = options.stream_name
        self.key = f"{ENGINE}:{options.stream_name}"
        self.result: PipelineResult | None = None
        self.shared: shared.StreamShared | None = None
        self._restart = Outage("the Beam pipeline", options.max_outage_s, lambda s: progress.note_retry(s, "runner"))

    # -- the pipeline ----------------------------------------------------------------------------------------
    def runner_flags(self) -> list[str]:
        flags = list(self.options.pipeline_options)
        runner = self.options.runner
        if runner in PRISM_NAMES:
            from aladia_etl.stack.prism import ensure_prism

            flags += [
                "--runner=PrismRunner",
                f"--prism_location={ensure_prism(self.settings)}",
                "--prism_log_level=error",
            ]
        else:
            flags.append(f"--runner={runner}")
        if not any(f.startswith("--environment_type") for f in flags):
            flags.append("--environment_type=LOOPBACK")
        return [*flags, "--streaming"]

    def _launch(self) -> None:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
        from apache_beam.transforms.window import GlobalWindows

        from aladia_etl.processing.beam.kafka_source import ReadKafkaPartition
        from aladia_etl.processing.beam.panes import ApplyPanes
        from aladia_etl.processing.continuity import resume_positions
        from aladia_etl.stack.connections import closing, consumer

        with loader.connect(self.settings) as conn:
            with closing(consumer(self.settings, group_id=None)) as kafka:
                # the gap check and the start positions come from one read of Kafka's offsets
                resume = resume_positions(self.settings, conn, kafka, ENGINE, self.options.accept_data_loss)
            partitions = [(t, p, start, resume.topic_ids.get(t)) for (t, p), start in sorted(resume.starts.items())]
            loader.clear_stage_prefix(conn, f"{ENGINE}:{self.stream_id}:")  # what a killed run left staged
            state = shared.register(self.key, shared.StreamShared(self.progress, self.options.max_outage_s))
            state.next_offsets = {(t, p): start for t, p, start, _ in partitions}
            state.next_batch_id = loader.next_batch_id(conn, ENGINE, self.stream_id)
        self.shared = state
        pane_s = self.options.trigger_interval or DEFAULT_PANE_S
        chunks_per_pane = max(1, self.options.max_records_per_batch // CHUNK)
        conninfo = self.settings.postgres.conninfo(self.settings.postgres.warehouse_db)
        dlq = {"kafka": self.settings.kafka.client(), "topic": self.options.dlq_topic}
        pipeline = beam.Pipeline(options=PipelineOptions(self.runner_flags()))
        _ = (
            pipeline
            | "CDC partitions" >> beam.Create([(*p, self.key) for p in partitions])
            | "Read Kafka" >> beam.ParDo(ReadKafkaPartition(self.key, self.settings.kafka.client(), CHUNK))
            | "Panes"
            >> beam.WindowInto(
                GlobalWindows(),
                trigger=pane_trigger(pane_s, chunks_per_pane),
                accumulation_mode=beam.transforms.trigger.AccumulationMode.DISCARDING,
            )
            | "One key" >> beam.Map(lambda chunk: (0, chunk))
            | "Group a pane" >> beam.GroupByKey()
            | "Apply" >> beam.ParDo(ApplyPanes(self.key, ENGINE, self.stream_id, conninfo, dlq, self.options.sinks))
        )
        self.result = pipeline.run()
        self.progress.pipeline = {
            "runner": self.options.runner or "PrismRunner",
            "started_at": datetime.now(UTC).isoformat(),
            "pane_s": pane_s,
        }
        log.info("Beam pipeline started on %s", self.progress.pipeline["runner"], extra={"engine": ENGINE})

    # -- engine protocol ---------------------------------------------------------------------------------------
    def start(self) -> None:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        self._launch()

    def check(self) -> None:
        state = self.shared
        if state is not None and state.error is not None:
            error = state.error
            if isinstance(error, AladiaError):
                raise error
            raise AladiaError(
                f"the Beam pipeline failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                "fix the cause and rerun; the warehouse's offsets are unchanged, so nothing is lost",
            )
        if self.result is None or state is None or state.stop.is_set():
            return
        name = self.job_state()
        if name.endswith((*ENDED, UNREACHABLE)):
            self._relaunch(RuntimeError(f"the Beam pipeline ended in state {name}"))

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
        offsets, with backoff."""
        now = time.monotonic()
        if self._restart.next_attempt_at is not None and now < self._restart.next_attempt_at:
            return
        old = self.shared
        if old is not None:
            old.stop.set()  # the old job's readers (they run in this process) finish their ranges
            old.abort.set()
            if old.applying:  # an apply of the old job is still in flight: relaunch from the offsets it leaves
                return
        try:
            self._launch()
            self._restart.recovered()
        except BaseException as exc:  # noqa: BLE001 - classified by failed()
            self._restart.failed(exc if self._restart.active else why, now)

    def busy(self) -> bool:
        state = self.shared
        return state is None or state.applying > 0 or any(state.waiting.values())

    def stop(self) -> None:
        """Ask the source to finish: every pane in flight is applied, then the job ends DONE."""
        state = self.shared
        if state is not None:
            state.stop.set()
        if self.result is not None:
            with contextlib.suppress(Exception):  # a job that failed or was cancelled: nothing more to apply
                self.result.wait_until_finish(duration=120_000)
            if not self.job_state().endswith((*ENDED, UNREACHABLE)):
                with contextlib.suppress(Exception):  # cancelling a job whose runner just went away
                    self.result.cancel()
        if state is not None:
            state.abort.set()
        shared.forget(self.key)
        self.check_error_after_stop(state)

    @staticmethod
    def check_error_after_stop(state) -> None:
        if state is not None and state.error is not None and isinstance(state.error, AladiaError):
            raise state.error
