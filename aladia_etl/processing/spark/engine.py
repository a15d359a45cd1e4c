"""`aladia stream --engine spark`: Structured Streaming over Kafka, foreachBatch with an exactly-once effect.

Each micro-batch: the Kafka records (topic, partition, offset, key, value) go through `mapInArrow` to the shared
processing path (`processing.bundle.stage`), which runs in the executors — parse, validate, dead-letter split,
COPY into the batch's staging tables — so the write scales out with the cluster. The driver then applies the batch
in one warehouse transaction that records (engine, stream id, batch id): a batch replayed after a crash is found
applied and skipped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from functools import partial
from typing import TYPE_CHECKING

from aladia_etl.bus.topics import cdc_pattern
from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings
from aladia_etl.processing import checkpoints
from aladia_etl.processing.model import StreamOptions, StreamProgress
from aladia_etl.processing.resilience import Outage, OutageTooLong, Stopped
from aladia_etl.processing.spark import cds
from aladia_etl.processing.spark.cds import DriverArchive
from aladia_etl.warehouse import loader

if TYPE_CHECKING:
    from psycopg import Connection
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

ENGINE = "spark"
# The micro-batch trigger without --trigger-interval. On 2 cores a batch's staging job takes about 0.4 s, so at any
# load the batches run back to back; 1 s (the default before 2026-12-04) made a change wait half a second on average
# and halved the sustained rate (docs/PERFORMANCE.md).
DEFAULT_TRIGGER_S = 0.25
log = logging.getLogger("aladia.spark")


def _stage_arrow(conninfo: dict, token: str, dlq: dict, sinks: list[dict] | None, batches):
    """Runs in a Python worker next to the data: Arrow batches of Kafka records → the shared processing path
    (which records what it staged in the warehouse); yields how many records it saw."""
    import pyarrow as pa

    from aladia_etl.processing.bundle import stage

    def records():
        for batch in batches:
            columns = [batch.column(i).to_pylist() for i in range(5)]
            yield from zip(*columns, strict=True)

    stats = stage(conninfo, token, records(), dlq, sinks=sinks)
    yield pa.RecordBatch.from_pydict({"records": [stats.records]})


def _warm_up(conninfo: dict, batches):
    """Start the Python workers, import the staging code and open their warehouse connection before the first
    micro-batch, so that it does not pay for them."""
    import pyarrow as pa

    from aladia_etl.processing import bundle  # noqa: F401 - imported now, not during the first batch
    from aladia_etl.warehouse.staging import worker_connection

    for _ in batches:
        pass
    worker_connection(conninfo)
    yield pa.RecordBatch.from_pydict({"ok": [True]})


def kafka_source_options(settings: Settings, options: StreamOptions, parallelism: int) -> dict[str, str]:
    """The Kafka source's options (read with `readStream.format("kafka")`)."""
    source = {
        "kafka.bootstrap.servers": settings.kafka.bootstrap_servers,
        # TLS and SASL as every other client of aladia's (spark.sql.redaction.options.regex hides the secrets)
        **{f"kafka.{key}": value for key, value in settings.kafka.security.java_properties().items()},
        "subscribePattern": cdc_pattern(settings),
        "startingOffsets": "earliest",
        "maxOffsetsPerTrigger": str(options.max_records_per_batch),
        # Spark's own check stops the query on records deleted under it; aladia names the gap (check()).
        "failOnDataLoss": "false" if options.accept_data_loss else "true",
        # An executor's consumer that caught up leaves a fetch waiting at the broker for up to this long; the next
        # micro-batch's read of that partition waited for it (the default 500 ms): the staging job's p90 0.34-0.42 s
        # → 0.24-0.26 s at 1,000 changes/s on 2 cores (#21). A drain is not affected: its fetches find data.
        "kafka.fetch.max.wait.ms": "50",
    }
    if not options.accept_data_loss:
        # A topic (order_items) holds half the records: split large offset ranges so every core has work.
        # Not when skipping deleted records: Spark's reader returns its consumer to the pool on a deleted offset and
        # then asks it for the earliest offset, while another task reading the same partition may have taken it
        # ("KafkaConsumer is not safe for multi-threaded access"). One task per partition cannot collide.
        source["minPartitions"] = str(2 * parallelism)
    return source


class SparkEngine:
    def __init__(self, settings: Settings, options: StreamOptions, progress: StreamProgress) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.spark: SparkSession | None = None
        self.query: StreamingQuery | None = None
        self._busy = threading.Event()
        self._stopping = False
        self._error: BaseException | None = None
        named = checkpoints.checkpoint_path(settings, options.stream_name)
        # Restarted by this run after it captured a table: the checkpoint it started with goes on, now under the name
        # of the grown set of topics, where the next start finds it (the new topic's partitions are read from their
        # earliest offsets either way).
        self.checkpoint = checkpoints.carry(options.checkpoint, named) if options.checkpoint else named
        options.checkpoint = self.checkpoint
        # The stream id file marks the checkpoint beside it as aladia's own.
        self.stream_id_file = checkpoints.marker(self.checkpoint)
        self._kafka = None
        self._warming: threading.Thread | None = None  # the workers' warm-up job, run while the query starts
        self._archive: DriverArchive | None = None  # the driver JVM's class-data archive, written on its first exit
        self.sinks = options.compiled_sinks()
        self._stop = threading.Event()
        self._batch_outage = Outage("the warehouse or Kafka", options.max_outage_s, progress.note_retry)
        self._query_outage = Outage(
            "Kafka (the streaming query)", options.max_outage_s, lambda s: progress.note_retry(s, "query")
        )

    def _set_aside(self, why: str) -> None:
        """Move this stream's checkpoint aside (kept, named `<checkpoint>.set-aside-<time>`): the stream then starts a
        new one from the earliest offsets (the write is idempotent). Only a checkpoint aladia marked is moved."""
        try:
            moved = checkpoints.set_aside(self.checkpoint)
        except ValueError:
            raise AladiaError(
                f"{self.checkpoint} is not a checkpoint aladia created; not touching it",
                "choose another --name, or move it away yourself",
            ) from None
        if moved is not None:
            note = f"{why}: the checkpoint was set aside as {moved.name}; replaying from the earliest offsets"
            log.warning("%s: %s", self.options.stream_name, note)
            self.progress.note(note)

    def _stream_id(self) -> str:
        """Identifies this checkpoint's batch ids (a new checkpoint starts again at batch 0)."""
        if not self.stream_id_file.exists() or not self.checkpoint.exists():
            self.stream_id_file.parent.mkdir(parents=True, exist_ok=True)
            self.stream_id_file.write_text(uuid.uuid4().hex[:12])
        return self.stream_id_file.read_text().strip()

    def _ahead_of_the_warehouse(self) -> str | None:
        """Spark records a batch as done only after its warehouse transaction committed, so a checkpoint whose last
        batch the warehouse does not have belongs to a warehouse that is gone (dropped and created again under the
        same name, restored from a backup): resuming it would skip every record before its offsets."""
        last = checkpoints.last_committed_batch(self.checkpoint)
        if last is None or not self.stream_id_file.is_file():
            return None
        with loader.connect(self.settings) as conn:
            following = loader.next_batch_id(conn, ENGINE, self.stream_id_file.read_text().strip())
        if following > last:
            return None
        has = f"up to batch {following - 1}" if following else "none of its batches"
        return f"the checkpoint was ahead of the warehouse (batch {last} done, the warehouse has {has})"

    def _continuity(self, conn: Connection, at_start: bool = False):
        """The gap check before each batch. A topic deleted and created again is accepted (--accept-data-loss) only
        when the stream starts, where its checkpoint — offsets of the old topic — is set aside too."""
        from aladia_etl.processing.continuity import resume_positions
        from aladia_etl.stack.connections import consumer

        if self._kafka is None:
            # metadata refreshed every 5 s: a topic's new id is seen before long
            self._kafka = consumer(self.settings, group_id=None, enable_auto_commit=False, metadata_max_age_ms=5000)
        return resume_positions(
            self.settings, conn, self._kafka, ENGINE, self.options.accept_data_loss, accept_recreated=at_start
        )

    def start(self) -> None:
        from aladia_etl.processing.spark.session import build_session

        with loader.connect(self.settings) as conn:
            resume = self._continuity(conn, at_start=True)  # before the JVM starts: a gap is one line, not a trace
        if self.options.from_beginning:
            self._set_aside("--from-beginning")
        elif resume.topic_recreated:
            self._set_aside("a topic was deleted and created again (data loss accepted)")
        else:
            ahead = self._ahead_of_the_warehouse()
            if ahead:
                self._set_aside(ahead)
        self.stream_id = self._stream_id()
        spark, self._archive = build_session(self.settings, self.options.master, self.options.conf)
        self.spark = spark
        conninfo = self.settings.postgres.conninfo(self.settings.postgres.warehouse_db)
        workers = spark.sparkContext.defaultParallelism
        warm_up = spark.range(0, workers, numPartitions=workers).mapInArrow(partial(_warm_up, conninfo), "ok boolean")
        # While its job runs, the query starts and plans its first batch, whose job then queues behind it.
        self._warming = threading.Thread(target=self._warm_up, args=(warm_up,), name="spark-warm-up", daemon=True)
        self._warming.start()
        self._start_query()

    def _warm_up(self, frame) -> None:
        """The warm-up only saves the first batch time: its failure (the workers' setup, the warehouse away from
        them) is the first batch's to meet and report; said as a warning unless the stream was stopping."""
        try:
            frame.collect()
        except Exception as exc:  # noqa: BLE001 - any failure: the first batch meets and reports it
            if not self._stopping:
                first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
                log.warning("the Spark workers' warm-up failed: %s", first[:300])

    def _start_query(self) -> None:
        """The streaming query, from the checkpoint (also after a service outage stopped it)."""
        spark = self.spark
        if spark is None:
            raise RuntimeError("the Spark session is not started")
        parallelism = spark.sparkContext.defaultParallelism
        reader = spark.readStream.format("kafka").options(
            **kafka_source_options(self.settings, self.options, parallelism)
        )
        records = reader.load().select("topic", "partition", "offset", "key", "value")
        trigger_s = self.options.trigger_interval or DEFAULT_TRIGGER_S
        self.query = (
            records.writeStream.foreachBatch(self._apply)
            .option("checkpointLocation", str(self.checkpoint))
            .trigger(processingTime=f"{round(trigger_s * 1000)} milliseconds")
            .queryName(f"aladia_{self.options.stream_name}")
            .start()
        )

    def _stage_and_apply(self, df, batch_id: int, started: float):
        conninfo = self.settings.postgres.conninfo(self.settings.postgres.warehouse_db)
        dlq = {"kafka": self.settings.kafka.client(), "topic": self.options.dlq_topic}
        try:
            with loader.connect(self.settings) as conn:
                if loader.is_applied(conn, ENGINE, self.stream_id, batch_id):
                    return loader.ApplyResult(applied=False, stats=loader.StageStats()), started, started
                self._continuity(conn)
                token = loader.batch_token(ENGINE, self.stream_id, batch_id)
                loader.clear_stage(conn, token)
                prepared = time.monotonic()
                stage_fn = partial(_stage_arrow, conninfo, token, dlq, self.options.sinks)
                counts = df.mapInArrow(stage_fn, "records long").collect()
                staged = time.monotonic()
                records = sum(row["records"] for row in counts)
                result = loader.apply_batch(
                    conn, ENGINE, self.stream_id, batch_id, started, staged_records=records, sinks=self.sinks
                )
                return result, prepared, staged
        except BaseException:
            if self._kafka is not None:  # the next attempt opens a fresh client
                self._kafka.close()
                self._kafka = None
            raise

    def _apply(self, df, batch_id: int) -> None:
        """foreachBatch: stage in the executors, then one exactly-once transaction on the driver; a service's
        outage (the warehouse, the broker) is retried here with backoff, the batch held."""
        self._busy.set()
        started = time.monotonic()
        try:
            try:
                outcome = self._batch_outage.retry(lambda: self._stage_and_apply(df, batch_id, started), self._stop)
            except Stopped:
                raise RuntimeError("batch interrupted by aladia stopping the query") from None
            result, prepared, staged = outcome
            done = time.monotonic()
            log.debug(
                "batch %d: %d records, prepare %.3f s, stage %.3f s, apply %.3f s",
                batch_id,
                result.stats.records,
                prepared - started,
                staged - prepared,
                done - staged,
            )
            self.progress.record_batch(result, done - started, batch_id)
        except BaseException as exc:
            if self._stopping:
                # query.stop() cancelled this batch's job: nothing was committed and the batch will be replayed.
                # A short error keeps Spark from scanning the huge Py4J message (a StackOverflowError in its regex).
                raise RuntimeError("batch interrupted by aladia stopping the query") from None
            self._error = exc  # surfaced by check(); Spark also fails the query
            raise
        finally:
            self._busy.clear()

    def check(self) -> None:
        if self.query is None:
            return
        failure = self.query.exception()
        if failure is not None or (not self.query.isActive and self._error is not None):
            if isinstance(self._error, AladiaError):
                raise self._error
            self._name_a_gap()
            if self._restart_after(self._error or failure):
                return
            detail = str(self._error or failure)
            first = next((ln for ln in detail.splitlines() if ln.strip()), "unknown error")
            raise AladiaError(
                f"the Spark streaming query failed: {first[:300]}",
                f"see {self.settings.logs_dir / 'spark-driver.log'}; the checkpoint is kept, so rerunning resumes",
                detail="\n".join(detail.splitlines()[:20]),
            )
        if not self.query.isActive:
            raise AladiaError(
                "the Spark streaming query stopped unexpectedly", f"see {self.settings.logs_dir / 'spark-driver.log'}"
            )

    def _restart_after(self, failure: object) -> bool:
        """A query stopped by a service's fault (the broker away while Spark planned a batch) is restarted from its
        checkpoint, with backoff; returns False for any other failure."""
        now = time.monotonic()
        if self._query_outage.next_attempt_at is None:
            try:
                self._query_outage.failed(_as_exception(failure), now)
            except OutageTooLong:
                raise
            except BaseException:  # noqa: BLE001 - anything failed() raises is no service's fault
                return False
            return True
        if now < self._query_outage.next_attempt_at:
            return True
        self._error = None
        try:
            self._start_query()
        except BaseException as exc:  # noqa: BLE001 - classified by failed()
            self._query_outage.failed(exc, now)
            return True
        self._query_outage.recovered()
        return True

    def _name_a_gap(self) -> None:
        """A query that failed on records deleted under it (failOnDataLoss) gets aladia's one line, not the trace."""
        from aladia_etl.core.errors import DataLoss

        try:
            with loader.connect(self.settings) as conn:
                self._continuity(conn)
        except DataLoss:
            raise
        except Exception:  # noqa: BLE001 - the original failure is reported instead
            return

    def busy(self) -> bool:
        if self._busy.is_set() or self.query is None:
            return True
        status = self.query.status
        return bool(status.get("isTriggerActive"))

    def stop(self) -> None:
        """Let a running batch finish, then stop the query and the session."""
        self._stopping = True
        self._stop.set()
        deadline = time.monotonic() + 120
        while self._busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.query is not None:
            self.query.stop()
        if self.spark is not None:
            self.spark.stop()  # cancels a warm-up job still running, whose thread ends before the gateway goes
        if self._warming is not None:
            self._warming.join(timeout=30)
        if self._kafka is not None:
            self._kafka.close()
        cds.finish(self._archive, keep=self.progress.batches > 0)


def _as_exception(failure: object) -> BaseException:
    """Spark's StreamingQueryException is not always a Python exception instance; its text is what counts."""
    return failure if isinstance(failure, BaseException) else RuntimeError(str(failure))
