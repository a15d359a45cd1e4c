"""The stream loop both engines share: start the engine, watch lag and stop conditions, render progress,
stop gracefully (Ctrl-C / SIGTERM / --duration / --max-batches / --until-idle)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg

from aladia_etl.bus.offsets import commit_group_offsets, lag, partition_offsets
from aladia_etl.bus.topics import cdc_topics
from aladia_etl.core import names
from aladia_etl.core.errors import AladiaError, SchemaDrift
from aladia_etl.core.faults import describe
from aladia_etl.core.settings import Settings
from aladia_etl.core.signals import stop_on_signals
from aladia_etl.processing.capture import NewTables, backfill
from aladia_etl.processing.model import Engine, StreamOptions, StreamProgress, check_engine, engine_class
from aladia_etl.processing.resilience import Outage, Stopped
from aladia_etl.processing.state import StatePublisher
from aladia_etl.warehouse import loader
from aladia_etl.warehouse.schema import ensure_schema
from aladia_etl.warehouse.sinks import capture_order
from aladia_etl.warehouse.writers import WriterLock, clear_dead_staging

if TYPE_CHECKING:
    from psycopg import Connection

log = logging.getLogger("aladia.stream")


class LagMeter:
    """Kafka end offsets of the CDC topics minus the offsets the engine has applied to the warehouse;
    also commits the applied offsets to the engine's consumer group so `aladia topics --groups` shows them."""

    def __init__(self, settings: Settings, engine: str) -> None:
        self.settings = settings
        self.engine = engine
        self._consumer = None  # created on first use, again after an outage
        self._committed: dict = {}

    def measure(self, conn: Connection) -> int:
        if self._consumer is None:
            from aladia_etl.stack.connections import consumer

            # Short request timeouts: a broker that is away must not block the loop for kafka-python's 30 s.
            self._consumer = consumer(
                self.settings,
                group_id=f"aladia-{self.engine}",
                enable_auto_commit=False,
                request_timeout_ms=5000,
            )
        offsets = partition_offsets(self._consumer, cdc_topics(self.settings))
        applied = loader.applied_offsets(conn, self.engine)
        commit = {o.key: applied[o.key] for o in offsets if o.key in applied}
        if commit and commit != self._committed:
            with contextlib.suppress(Exception):  # a failed commit only delays what `topics --groups` shows
                commit_group_offsets(self._consumer, commit)
                self._committed = commit
        return lag(offsets, applied)

    def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()
        self._consumer = None
        self._committed = {}


def should_stop(
    options: StreamOptions,
    progress: StreamProgress,
    engine_busy: bool,
    signalled: bool,
    idle_gate_open: bool,
    idle_since: float | None,
    now: float,
) -> tuple[str | None, float | None]:
    """The stop rules, in order: (reason to stop or None, the moment the lag was first seen 0 and idle)."""
    if signalled:
        return "signal", idle_since
    if options.duration is not None and progress.elapsed_s >= options.duration:
        return "duration", idle_since
    if options.max_batches is not None and progress.batches + progress.skipped >= options.max_batches:
        return "max-batches", idle_since
    if options.until_idle and idle_gate_open:
        if progress.lag == 0 and not engine_busy:
            idle_since = idle_since if idle_since is not None else now
            if now - idle_since >= options.settle_s:
                return "idle", idle_since
            return None, idle_since
        return None, None
    return None, idle_since


class _Watch:
    """The loop's own connections (the warehouse for applied offsets, Kafka for end offsets): measured without
    blocking the loop; an outage marks the lag unknown and is retried with backoff, like the engines' steps."""

    def __init__(self, settings: Settings, options: StreamOptions, progress: StreamProgress) -> None:
        self.settings = settings
        self.progress = progress
        self.meter = LagMeter(settings, options.engine)
        self.conn: Connection | None = None
        self.lock: WriterLock | None = None
        self.outage = Outage(
            "Kafka or the warehouse (measuring lag)", options.max_outage_s, lambda s: progress.note_retry(s, "lag")
        )

    def measure(self) -> None:
        if self.outage.next_attempt_at is not None and time.monotonic() < self.outage.next_attempt_at:
            return
        try:
            if self.lock is not None:
                self.lock.check()  # after an outage: take the stream's name again, or stop if another took it
            if self.conn is None or self.conn.closed or self.conn.broken:
                self.conn = loader.connect(self.settings)
            self.progress.lag = self.meter.measure(self.conn)
        except Exception as exc:  # noqa: BLE001 - classified by failed()
            self._disconnect()
            self.progress.lag = None
            self.outage.failed(exc)  # raises unless it is a service's fault within the limit
            return
        self.outage.recovered()

    def _disconnect(self) -> None:
        self.meter.close()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None

    def close(self) -> None:
        self._disconnect()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def run_stream(
    settings: Settings,
    options: StreamOptions,
    on_progress: Callable[[StreamProgress], None] | None = None,
    stop: threading.Event | None = None,
    idle_gate: threading.Event | None = None,
) -> StreamProgress:
    """Run the engine until a stop condition. With --until-idle, idleness only counts once `idle_gate` (when
    given) is set — `aladia demo` sets it when its simulator has finished."""
    check_engine(options.engine)
    names.check("stream", options.stream_name, "--name")
    stop = stop or threading.Event()
    progress = StreamProgress(options.engine, options.stream_name)
    context = {"engine": options.engine, "stream": options.stream_name}
    metrics = None
    if options.metrics_port is not None:
        from aladia_etl.processing.metrics import MetricsServer

        metrics = MetricsServer(progress, options.metrics_port)
        log.info("serving the stream's metrics on http://127.0.0.1:%d/metrics", metrics.port, extra=context)
    published = StatePublisher(settings, options, progress)
    watch = _Watch(settings, options, progress)
    idle_since: float | None = None
    engine: Engine | None = None
    last_drift: list = []  # the drift the last re-plan handled, and the batches applied then
    new_tables: NewTables | None = None
    log.info("stream starting", extra=context)
    try:
        with stop_on_signals(stop):
            starting = Outage("the warehouse", options.max_outage_s, progress.note_retry)
            try:
                lock = starting.retry(lambda: _prepare(settings, options, progress), stop)
            except Stopped:
                progress.stopped_reason = "signal"
                return progress
            watch.lock = lock
            new_tables = NewTables(settings, options).start()
            engine = engine_class(options.engine)(settings, options, progress)
            engine.start()
            progress.state = "running"
            log.info("stream running", extra=context)
            while True:
                stop.wait(0.25)
                try:
                    engine.check()
                except SchemaDrift as drift:  # nothing of the batch was applied: re-plan, then read it again
                    engine = _replan(settings, options, progress, engine, drift, last_drift)
                    continue
                found = new_tables.found()
                if found:
                    engine = _capture(settings, options, progress, engine, new_tables, *found)
                    last_drift.clear()  # its plan starts from the catalog: a drift met next is planned afresh
                    continue
                watch.measure()
                progress.state = "retrying" if progress.retrying else "running"
                published.maybe()
                if on_progress:
                    on_progress(progress)
                reason, idle_since = should_stop(
                    options,
                    progress,
                    engine.busy(),
                    stop.is_set(),
                    idle_gate is None or idle_gate.is_set(),
                    idle_since,
                    time.monotonic(),
                )
                if reason:
                    progress.stopped_reason = reason
                    break
            progress.state = "stopping"
            log.info("stream stopping: %s", progress.stopped_reason, extra=context)
            published.now()
            if on_progress:
                on_progress(progress)
            try:
                engine.stop()
            except SchemaDrift as drift:  # met while draining: nothing of that batch applied; the next start plans
                progress.note(f"{drift.reason}: not applied; the next start of the stream handles the change")
            watch.measure()
            progress.state = "stopped"
    except BaseException as exc:
        progress.state = "failed"
        progress.stopped_reason = describe(exc)
        log.error("stream failed: %s", progress.stopped_reason, extra=context)
        if engine is not None:
            with contextlib.suppress(BaseException):  # nothing may write once the stream's name is released
                engine.stop()
        raise
    finally:
        watch.close()
        if new_tables is not None:
            new_tables.close()
        published.now()
        if metrics is not None:
            metrics.close()
    log.info(
        "stream stopped (%s): %d batches, %d records, %d rows, %d dead letters, lag %s",
        progress.stopped_reason,
        progress.batches,
        progress.records,
        progress.rows,
        progress.dead_letters,
        progress.lag,
        extra={**context, **progress.as_dict()},
    )
    return progress


def _plan_tables(
    settings: Settings,
    options: StreamOptions,
    conn: Connection,
    drift: dict | None = None,
    progress: StreamProgress | None = None,
) -> None:
    """The pipeline's tables other than the built-in model's (those are migrations'): columns added to or dropped
    from the source adjusted by the schema_changes policy (`warehouse.evolution`), the warehouse DDL applied, and
    the tables whose existing rows must be read again asked for to Debezium. `drift`: what a running stream's
    records showed (None: the stream is starting)."""
    sinks = options.compiled_sinks()
    if sinks is None:
        return
    from aladia_etl.warehouse import ddl, evolution, schema_history

    context = {"engine": options.engine, "stream": options.stream_name}
    recorded = schema_history.recorded(conn)
    try:
        planned = evolution.plan(conn, sinks, options.schema_changes, drift, recorded)
    except evolution.SchemaChangeRefused as refused:
        _note_changes(conn, options, progress, [refused.change], recorded)
        raise
    if planned.backfill:  # asked for before the DDL: a stream that stops in between asks again when it restarts
        backfill(settings, tuple(planned.backfill), progress, context)
    applied = ddl.apply_plan(conn, planned.sinks, options.allow_destructive, planned.drops)
    options.sinks = [s.as_dict() for s in planned.sinks]
    _note_changes(conn, options, progress, planned.changes, recorded)
    for change in applied:
        log.info("warehouse: %s %s %s", change.action, change.table, change.detail, extra=context)


def _note_changes(
    conn: Connection,
    options: StreamOptions,
    progress: StreamProgress | None,
    changes: list[dict],
    recorded: set | None = None,
) -> None:
    """Log, count and record in `schema_history` the schema changes a plan met (applied or refused); `recorded`:
    what `schema_history.recorded` gave the plan (read here when not given)."""
    from aladia_etl.warehouse import schema_history

    context = {"engine": options.engine, "stream": options.stream_name}
    events = []
    recorded = schema_history.recorded(conn) if recorded is None else recorded
    for seen_change in changes:
        # a difference kept earlier is met again by every plan (at each start and re-plan): not a new change
        standing = seen_change["outcome"] in ("ignore", "keep") and schema_history.key(seen_change) in recorded
        if not standing:
            events.append(seen_change)
        log.log(
            logging.INFO if standing else logging.WARNING,
            "schema change: %s %s %s%s — %s",
            seen_change["table"],
            seen_change["kind"].replace("_", " "),
            seen_change["column"],
            f" ({seen_change['detail']})" if seen_change.get("detail") else "",
            seen_change["outcome"],
            extra={**context, "schema_change": seen_change},
        )
        if progress is not None and not standing:
            progress.note_schema_change(seen_change)
    schema_history.record(conn, options.engine, options.stream_name, events)


def _replan(
    settings: Settings,
    options: StreamOptions,
    progress: StreamProgress,
    engine: Engine,
    drift: SchemaDrift,
    last: list,
) -> Engine:
    """A running stream met records of a changed table: stop the engine (the batch was not applied), compile the
    pipeline again from the source catalog, plan and apply the change, and start the engine again. `last`: the
    drift the previous re-plan handled."""
    from aladia_etl.core.pipeline import Pipeline

    if not isinstance(options.pipeline, Pipeline):
        raise drift
    from aladia_etl.warehouse import evolution

    seen = evolution.drift_to_plan(last, drift, progress.batches)
    log.warning("%s: re-planning", drift.reason, extra={"engine": options.engine, "stream": options.stream_name})
    with contextlib.suppress(SchemaDrift):  # an engine that raises its failure again when stopped (Beam)
        engine.stop()
    from aladia_etl.source.bootstrap import connect
    from aladia_etl.source.catalog import read_catalog
    from aladia_etl.warehouse.compile import compile_pipeline

    with connect(settings) as source:
        catalog = read_catalog(source)
    captured = {_source_of(s) for s in options.sinks or ()}
    # the changed tables only: a table created since is new_table's to capture (`_capture`)
    options.sinks = [s for s in compile_pipeline(options.pipeline, catalog).spec() if _source_of(s) in captured]
    options.from_beginning = False  # the position was moved back once, at the start
    with loader.connect(settings) as conn:
        _plan_tables(settings, options, conn, seen, progress)
    return _started(settings, options, progress)


def _source_of(sink: dict) -> str:
    return sink["source_schema"] + "." + sink["source_table"]


def _capture(
    settings: Settings,
    options: StreamOptions,
    progress: StreamProgress,
    engine: Engine,
    new_tables: NewTables,
    sinks: list[dict],
    new: tuple[str, ...],
) -> Engine:
    """Tables created in the source that the pipeline file includes (`schema_changes.new_table: capture`): the
    publication and the connector capture them (Debezium's changes wait in a topic the engine does not read yet),
    then the engine stops, their warehouse tables are created, the engine starts again reading their topics with
    their sinks, and their earlier rows are asked for (incremental snapshot). A step that fails (no right to alter
    the publication, Connect away, the warehouse away) is said once and tried again later; the engine goes on."""
    from aladia_etl.warehouse.evolution import SchemaChangeRefused

    context = {"engine": options.engine, "stream": options.stream_name}
    log.warning("new source tables %s: capturing them", list(new), extra=context)
    captured = capture_order(_source_of(s) for s in sinks)  # in the order a start names the checkpoint for
    try:
        new_tables.publish(captured)
    except (AladiaError, psycopg.Error) as exc:
        new_tables.refused(exc, new)
        return engine
    before, reading = options.sinks, settings.capture
    restart = sinks != before or set(captured) != set(reading)
    if restart:
        with contextlib.suppress(SchemaDrift):
            engine.stop()
    try:
        options.sinks = sinks
        options.from_beginning = False
        with loader.connect(settings) as conn:
            _plan_tables(settings, options, conn, None, progress)
            changes = [{"table": t, "kind": "new_table", "column": "", "outcome": "capture"} for t in new]
            _note_changes(conn, options, progress, changes)
        settings.capture_more(captured)  # the engine reads their topics, the lag counts them
    except SchemaChangeRefused:  # the policy refuses a change of another planned table: the stream stops
        raise
    except (AladiaError, psycopg.Error) as exc:
        options.sinks = before
        settings.capture_more(reading)
        new_tables.refused(exc, new)
        return _started(settings, options, progress) if restart else engine
    backfill(settings, new, progress, context, "they are missing from the warehouse")
    return _started(settings, options, progress) if restart else engine


def _started(settings: Settings, options: StreamOptions, progress: StreamProgress) -> Engine:
    fresh = engine_class(options.engine)(settings, options, progress)
    try:
        fresh.start()
    except BaseException:
        with contextlib.suppress(BaseException):
            fresh.stop()
        raise
    return fresh


def _prepare(settings: Settings, options: StreamOptions, progress: StreamProgress | None = None) -> WriterLock:
    """Bring the warehouse schema up to date, take the stream's name (one running stream per engine and name),
    clear what dead runs left staged, and with --from-beginning move the engine's position back (keeping what it
    had reached, so that the gap check knows what was applied)."""
    with loader.connect(settings) as conn:
        ensure_schema(conn)
    lock = WriterLock(settings, options.engine, options.stream_name).acquire()
    try:
        with loader.connect(settings) as conn:
            _plan_tables(settings, options, conn, progress=progress)  # by the stream that holds the name
            cleared = clear_dead_staging(conn)
            if cleared:
                log.info("cleared %d staging rows of runs that are gone", cleared, extra={"engine": options.engine})
            if options.from_beginning:
                loader.rewind_offsets(conn, options.engine)
    except BaseException:
        lock.release()
        raise
    return lock
