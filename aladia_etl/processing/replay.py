"""`aladia dlq replay`: dead letters back through the one processing path, after a fix.

Each dead letter's original record goes through `processing.bundle.stage` again and is merged by the same
position-guarded merge as a stream batch (so a replayed change never overwrites a newer one). A record that now
becomes a row is marked `replayed` and kept for audit; one that fails again stays a dead letter with its new
reason. A replay never moves an engine's offsets and never republishes to the dead-letter topic.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aladia_etl.core.settings import Settings
from aladia_etl.processing.bundle import stage
from aladia_etl.warehouse import dead_letters, loader
from aladia_etl.warehouse.schema import ensure_schema
from aladia_etl.warehouse.writers import WriterLock

if TYPE_CHECKING:
    from psycopg import Connection

CHUNK = 5_000


@dataclass
class ReplayResult:
    replayed: list[int] = field(default_factory=list)
    still_dead: dict[int, str] = field(default_factory=dict)  # id -> new reason
    skipped: dict[int, str] = field(default_factory=dict)  # id -> why it was not replayed
    rows: int = 0

    def as_dict(self) -> dict:
        return {
            "replayed": self.replayed,
            "still_dead": [{"id": i, "reason": r} for i, r in self.still_dead.items()],
            "skipped": [{"id": i, "why": w} for i, w in self.skipped.items()],
            "rows_merged": self.rows,
        }


def replay(settings: Settings, ids: list[int] | None = None, sinks=None) -> ReplayResult:
    """Replay the given dead letters, or every one not replayed yet when `ids` is None, into the pipeline's tables
    (`sinks`, `warehouse.sinks.Sink`s; None: the built-in pipeline's)."""
    result = ReplayResult()
    conninfo = settings.postgres.conninfo(settings.postgres.warehouse_db)
    with loader.connect(settings) as conn:
        ensure_schema(conn)
    # registered as a writer: a stream starting meanwhile keeps this replay's staging rows
    with (
        WriterLock(settings, "dlq", f"replay-{uuid.uuid4().hex[:12]}", what="dead-letter replay"),
        loader.connect(settings) as conn,
    ):
        wanted = dead_letters.waiting(conn) if ids is None else list(dict.fromkeys(ids))
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            rows = {r.id: r for r in dead_letters.get(conn, chunk)}
            for missing in (i for i in chunk if i not in rows):
                result.skipped[missing] = "no such dead letter"
            for r in rows.values():
                if r.status != "dead":
                    result.skipped[r.id] = f"already {r.status}"
            todo = [r for r in rows.values() if r.status == "dead"]
            if todo:
                _replay_chunk(conn, conninfo, todo, result, sinks)
    return result


def _replay_chunk(conn: Connection, conninfo: dict, todo: list, result: ReplayResult, sinks=None) -> None:
    token = f"replay:dlq:{uuid.uuid4().hex}"
    ids = [r.id for r in todo]
    params = {"token": token, "tokens": [token], "ids": ids}
    try:
        # a dead letter may be older than a change of its table's columns: its unknown fields are ignored and a
        # column it lacks keeps it dead (the "not in the change event" reason), never a schema change that would
        # leave it neither applied nor dead
        spec = None if sinks is None else [{**s.as_dict(), "known_fields": ()} for s in sinks]
        stage(conninfo, token, [(r.topic, r.partition, r.offset, r.key, r.value) for r in todo], sinks=spec)
        with conn.transaction():
            stats = loader.staged_stats(conn, token)
            merged, _ = loader.merge_staged(conn, params, stats, sinks)
            conn.execute(dead_letters.STILL_DEAD, params)
            conn.execute(dead_letters.MARK_REPLAYED, params)
            loader.clear_staged(conn, params)
    except BaseException:
        with contextlib.suppress(Exception):  # the warehouse gone: a later stream start clears them
            loader.clear_stage(conn, token)
        raise
    result.rows += merged
    for r in dead_letters.get(conn, ids):
        if r.status == "replayed":
            result.replayed.append(r.id)
        else:
            result.still_dead[r.id] = r.reason
