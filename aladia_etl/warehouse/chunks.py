"""Chunks staged in parallel, applied in order: the Beam engine's reorder buffer lives in the warehouse.

Workers stage each chunk of records they read — a complete offset range [start, end) of one partition — under the
chunk's own deterministic token (`chunk_token`: a retried bundle re-stages the same token, never twice). The step
that applies registers the chunks that reached it (`register`: only a bundle's committed output reaches it, never
what a failed attempt staged) and then, in one transaction under the engine's offsets lock, applies every chunk
that continues the warehouse's offsets, partition by partition (`ready`), as one batch whose id the warehouse
gives. A chunk ahead of a gap waits in `stg_beam_chunks` until the chunks before it arrive; a chunk the offsets
have passed (a replay, a failed attempt's other cut) is dropped with what it staged. Nothing advances in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aladia_etl.warehouse import loader

if TYPE_CHECKING:
    from psycopg import Connection

    from aladia_etl.warehouse.sinks import Sink


@dataclass(frozen=True)
class Chunk:
    token: str
    topic: str
    partition: int
    start: int
    end: int
    records: int
    worker: str
    stage_started_ms: int | None = None  # when its staging began (wall clock): a batch's duration starts there

    def as_row(self, engine: str, stream_id: str, run_id: str) -> tuple:
        return (
            self.token,
            engine,
            stream_id,
            run_id,
            self.topic,
            self.partition,
            self.start,
            self.end,
            self.records,
            self.worker,
            self.stage_started_ms,
        )


def chunk_token(engine: str, stream_id: str, run_id: str, topic: str, partition: int, start: int, end: int) -> str:
    """Under the stream's staging prefix (`engine:stream:`, cleared when the stream starts), one token per range of
    one run (a step of an older run still staging never touches the current run's rows)."""
    return f"{engine}:{stream_id}:{run_id}:{topic}/{partition}/{start}-{end}"


def ready(chunks: list[Chunk], held: dict[tuple[str, int], int]) -> tuple[list[Chunk], list[Chunk]]:
    """(the chunks to apply now, in offset order per partition; the chunks to drop). Per partition, from the
    warehouse's offset (absent: 0): take a chunk that covers it — one that starts there or straddles it (its records
    before the offset are applied again, which changes nothing: the merge keeps the newest change per key) — of
    several, the one whose continuation is known, else the one reaching furthest; continue from its end. A chunk
    that ends at or before the position reached is dropped."""
    by_partition: dict[tuple[str, int], list[Chunk]] = {}
    for chunk in chunks:
        by_partition.setdefault((chunk.topic, chunk.partition), []).append(chunk)
    take: list[Chunk] = []
    drop: list[Chunk] = []
    for key in sorted(by_partition):
        waiting = by_partition[key]
        starts = {c.start for c in waiting}
        position = held.get(key, 0)
        chosen: set[str] = set()
        while True:
            here = [c for c in waiting if c.start <= position < c.end and c.token not in chosen]
            if not here:
                break
            best = max(here, key=lambda c: (c.end in starts, c.end))
            take.append(best)
            chosen.add(best.token)
            position = best.end
        drop += [c for c in waiting if c.token not in chosen and c.end <= position]
    return take, drop


def register(conn: Connection, engine: str, stream_id: str, run_id: str, chunks: list[Chunk]) -> None:
    if not chunks:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO stg_beam_chunks (batch_token, engine, stream_id, run_id, kafka_topic, kafka_partition, "
            "start_offset, end_offset, records, worker, stage_started_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (batch_token) DO NOTHING",
            [c.as_row(engine, stream_id, run_id) for c in chunks],
        )


def waiting(conn: Connection, engine: str, stream_id: str, run_id: str | None = None) -> list[Chunk]:
    """The registered chunks of the stream (of one run only, with `run_id`)."""
    rows = conn.execute(
        "SELECT batch_token, kafka_topic, kafka_partition, start_offset, end_offset, records, worker, stage_started_ms "
        "FROM stg_beam_chunks WHERE engine = %s AND stream_id = %s AND (%s::text IS NULL OR run_id = %s)",
        (engine, stream_id, run_id, run_id),
    ).fetchall()
    return [Chunk(*row) for row in rows]


def current_run(conn: Connection, engine: str, stream_id: str) -> str | None:
    """The stream's run, while a live session holds its name (a pipeline whose launching process died applies
    nothing more)."""
    from aladia_etl.warehouse import control

    found = control.read(conn, engine, stream_id)
    return found.run_id if found.held else None


def apply_ready(
    conn: Connection, engine: str, stream_id: str, run_id: str, sinks: tuple[Sink, ...] | None = None
) -> tuple[int, loader.ApplyResult] | None:
    """Apply every registered chunk of run `run_id` that continues the warehouse's offsets as one batch, in one
    transaction; returns (batch id, result), or None when no chunk continues them or the run is no longer the
    stream's (a relaunch started another). Dropped chunks are cleared with it."""
    started = time.monotonic()  # the batch's duration when its chunks do not say when their staging began
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (loader.OFFSETS_LOCK, engine))
        if current_run(conn, engine, stream_id) != run_id:
            return None
        take, drop = ready(waiting(conn, engine, stream_id, run_id), loader.applied_offsets(conn, engine))
        if drop:
            loader.clear_staged(conn, {"tokens": [c.token for c in drop]})
        if not take:
            return None
        batch_id = loader.next_batch_id(conn, engine, stream_id)
        result = loader.apply_staged(
            conn,
            engine,
            stream_id,
            batch_id,
            [c.token for c in take],
            started,
            staged_records=sum(c.records for c in take),
            sinks=sinks,
            staged_by=sorted({c.worker for c in take}),
            started_ms=min((c.stage_started_ms for c in take if c.stage_started_ms is not None), default=None),
        )
        if not result.applied:  # the id was claimed by a writer that does not hold the name: refuse, roll back
            raise loader.PositionMoved(
                f"batch {batch_id} of the {engine} stream {stream_id!r} is already in the warehouse: another stream "
                "of this name applied it; nothing was applied",
                "run one stream per name, then rerun: it resumes from the warehouse's offsets",
            )
    return batch_id, result
