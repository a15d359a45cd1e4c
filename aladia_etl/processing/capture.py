"""Tables created in the source while a stream runs that match its pipeline file's `tables.include` patterns
(`schema_changes.new_table: capture`): a thread of the stream reads the source catalog, the publication and the
connector's `table.include.list` every few seconds; a table the pipeline captures that one of them (or the engine)
lacks is new. The stream (`processing.loop._capture`) then publishes it and names it in the connector first — Debezium
writes its changes to a topic the running engine does not read yet — then plans its warehouse table, restarts the
engine with its sink and topic, and asks Debezium to read the rows the table held before it was published
(incremental snapshot). A step that fails is said once and tried again a minute later; the engine is only touched
once the source side succeeded."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from aladia_etl.core.errors import AladiaError

if TYPE_CHECKING:
    from aladia_etl.core.settings import Settings
    from aladia_etl.processing.model import StreamOptions, StreamProgress

log = logging.getLogger("aladia.stream")
EVERY_S = 5.0
RETRY_S = 60.0  # a table whose capture failed is tried again after this long
PUBLISHED = "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s"


class NewTables:
    """Looks for new tables in a thread of its own, every EVERY_S seconds from `start()`; `found()` (never
    blocking) returns the pipeline compiled with them (plain sink data, as `StreamOptions.sinks`) and their names."""

    def __init__(self, settings: Settings, options: StreamOptions) -> None:
        from aladia_etl.core.pipeline import Pipeline

        self.settings, self.options = settings, options
        self.enabled = isinstance(options.pipeline, Pipeline) and options.schema_changes.get("new_table") == "capture"
        self._lock = threading.Lock()
        self._found: tuple[list[dict], tuple[str, ...]] | None = None
        self._closed = threading.Event()
        self._refused: set[str] = set()  # what kept a new table from being captured: said once
        self._retry_at: dict[str, float] = {}  # table → not tried again before this time.monotonic()
        self._thread: threading.Thread | None = None

    def start(self) -> NewTables:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aladia-new-tables", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()

    def found(self) -> tuple[list[dict], tuple[str, ...]] | None:
        with self._lock:
            found, self._found = self._found, None
        return found

    def _run(self) -> None:
        while not self._closed.is_set():  # at the start too: a table created since `aladia cdc register`
            try:
                found = self.look()
            except Exception as exc:  # noqa: BLE001 - the source or Connect away: said once, looked for again
                self.refused(exc)
                found = None
            if found is not None:
                with self._lock:
                    self._found = found
            self._closed.wait(EVERY_S)

    def look(self) -> tuple[list[dict], tuple[str, ...]] | None:
        """The pipeline compiled from the source catalog and its tables that the publication, the connector or
        the engine lacks (None: none)."""
        from aladia_etl.cdc.connector import include_list
        from aladia_etl.cdc.service import client_for
        from aladia_etl.source.bootstrap import connect
        from aladia_etl.source.catalog import read_catalog
        from aladia_etl.warehouse.compile import compile_pipeline

        config = client_for(self.settings).config(self.settings.cdc.connector_name)
        if config is None:  # no connector registered: nothing is captured, and `aladia cdc register` will decide
            return None
        with connect(self.settings) as source:
            catalog = read_catalog(source)
            published = {f"{r[0]}.{r[1]}" for r in source.execute(PUBLISHED, (self.settings.cdc.publication,))}
        compiled = compile_pipeline(self.options.pipeline, catalog)  # type: ignore[arg-type]
        included = set(config.get("table.include.list", "").split(","))
        read = set(self.settings.capture)
        now = time.monotonic()
        new = tuple(
            t
            for t in compiled.captured
            if (t not in published or include_list((t,)) not in included or t not in read)
            and self._retry_at.get(t, 0.0) <= now
        )
        return (compiled.spec(), new) if new else None

    def publish(self, captured: tuple[str, ...]) -> None:
        """The source side: the publication holds `captured` (every table of the pipeline), and the connector
        names them."""
        from aladia_etl.cdc.service import include_tables
        from aladia_etl.source.bootstrap import connect, publish

        with connect(self.settings) as source:
            publish(source, self.settings.cdc.publication, captured)
            source.commit()
        include_tables(self.settings, captured)

    def refused(self, exc: Exception, tables: tuple[str, ...] = ()) -> None:
        """Say once what kept tables from being captured; `tables` are tried again after RETRY_S."""
        for table in tables:
            self._retry_at[table] = time.monotonic() + RETRY_S
        reason = exc.reason if isinstance(exc, AladiaError) else f"{type(exc).__name__}: {exc}".strip()
        if reason not in self._refused:
            self._refused.add(reason)
            fix = f" — {exc.fix}" if isinstance(exc, AladiaError) and exc.fix else ""
            log.warning(
                "new tables%s not captured yet: %s%s; tried again every %.0f s ('aladia init' and 'aladia cdc "
                "register' capture them too)",
                f" {list(tables)}" if tables else "",
                reason,
                fix,
                RETRY_S,
                extra={"engine": self.options.engine, "stream": self.options.stream_name},
            )


def backfill(
    settings: Settings,
    tables: tuple[str, ...],
    progress: StreamProgress | None,
    context: dict,
    missing: str = "the new columns are NULL in them",
) -> None:
    """Ask Debezium to read `tables` again (their rows that existed before a column was added, or before the table
    was captured). A request that cannot be made (a table without a primary key, a connector registered without the
    signalling table) does not stop the stream: the user is told what is `missing` and how to fill it."""
    from aladia_etl.cdc.snapshots import request

    try:
        ident = request(settings, tables, merge=True)
    except AladiaError as exc:
        text = (
            f"the rows of {', '.join(tables)} that existed before the change were not read again ({exc.reason}); "
            f"until they are, {missing} — {exc.fix or 'see docs/PIPELINES.md'}, then "
            f"'aladia cdc snapshot {' '.join(tables)}'"
        )
        log.warning(text, extra=context)
        if progress is not None:
            progress.note(text)
        return
    log.warning("re-reading %s (snapshot %s): rows that existed before the change", list(tables), ident, extra=context)
