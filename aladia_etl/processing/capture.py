"""Tables created in the source while a stream runs that match its pipeline file's `tables.include` patterns
(`schema_changes.new_table: capture`): found by reading the source catalog every few seconds, then captured without
restarting the stream — the publication and the connector's `table.include.list` follow, and the rows the table held
before it was published are read through an incremental snapshot. The stream (`processing.loop`) plans the new
warehouse tables and restarts its engine with their sinks before Debezium sends the first change of them; both
engines find the new topics on their own (Spark's `subscribePattern`, Beam's partition discovery)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import psycopg

from aladia_etl.core.errors import AladiaError

if TYPE_CHECKING:
    from aladia_etl.core.settings import Settings
    from aladia_etl.processing.model import StreamOptions, StreamProgress

log = logging.getLogger("aladia.stream")
EVERY_S = 5.0
PUBLISHED = "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s"


class NewTables:
    """Looks for new tables at most every EVERY_S seconds; `found()` returns the pipeline compiled with them (plain
    sink data, as `StreamOptions.sinks`) and their names, or None."""

    def __init__(self, settings: Settings, options: StreamOptions) -> None:
        from aladia_etl.core.pipeline import Pipeline

        self.settings, self.options = settings, options
        self.enabled = isinstance(options.pipeline, Pipeline) and options.schema_changes.get("new_table") == "capture"
        self._next = 0.0  # at the start too: a table created since `aladia cdc register`
        self._refused: set[str] = set()  # what kept a new table from being captured: said once
        self._given_up: set[str] = set()  # tables whose capture failed: left to `aladia init` and `cdc register`

    def found(self) -> tuple[list[dict], tuple[str, ...]] | None:
        if not self.enabled or time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + EVERY_S
        from aladia_etl.source.bootstrap import connect
        from aladia_etl.source.catalog import read_catalog
        from aladia_etl.warehouse.compile import compile_pipeline

        try:
            with connect(self.settings) as source:
                catalog = read_catalog(source)
                published = {f"{r[0]}.{r[1]}" for r in source.execute(PUBLISHED, (self.settings.cdc.publication,))}
            compiled = compile_pipeline(self.options.pipeline, catalog)  # type: ignore[arg-type]
        except (AladiaError, psycopg.Error) as exc:  # the source away, a table aladia cannot mirror: goes on
            self.refused(exc)
            return None
        new = tuple(t for t in compiled.captured if t not in published and t not in self._given_up)
        if not new:
            return None
        return compiled.spec(), new

    def refused(self, exc: Exception, tables: tuple[str, ...] = ()) -> None:
        """Say once what kept tables from being captured; `tables` are not tried again while the stream runs."""
        self._given_up.update(tables)
        reason = exc.reason if isinstance(exc, AladiaError) else f"{type(exc).__name__}: {exc}".strip()
        if reason not in self._refused:
            self._refused.add(reason)
            fix = f" — {exc.fix}" if isinstance(exc, AladiaError) and exc.fix else ""
            log.warning(
                "new tables%s not captured: %s%s; 'aladia init' and 'aladia cdc register' capture them",
                f" {list(tables)}" if tables else "",
                reason,
                fix,
                extra=self._context(),
            )

    def capture(self, captured: tuple[str, ...], new: tuple[str, ...], progress: StreamProgress) -> None:
        """Publish `captured` (every table of the pipeline), name them in the connector, and ask Debezium to read
        the rows `new` held before they were published."""
        from aladia_etl.cdc.service import include_tables
        from aladia_etl.source.bootstrap import connect, publish

        with connect(self.settings) as source:
            publish(source, self.settings.cdc.publication, captured)
            source.commit()
        include_tables(self.settings, captured)
        backfill(self.settings, new, progress, self._context(), "they are missing from the warehouse")

    def _context(self) -> dict[str, str]:
        return {"engine": self.options.engine, "stream": self.options.stream_name}


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
