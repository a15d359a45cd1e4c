"""Apply one staged batch to the warehouse in one transaction, exactly once per (engine, stream, batch).

In the transaction: sum what the staging calls recorded for the batch's token (`stg_stats`: the database, not a
caller's counters, says what is there), claim the batch id (a replayed batch finds it claimed and changes
nothing), merge every staged table with an LSN guard (an older event never overwrites a newer one; deletes are
soft), move the daily summary of every day the batch touched by what its orders add and take away, keep the dead
letters, advance the engine's offsets, clear the staging rows.

Connections passed here are autocommit connections; `conn.transaction()` makes the one real transaction.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aladia_etl.core.errors import AladiaError, ExitCode, SchemaDrift, ServiceUnavailable
from aladia_etl.core.sql import scalar
from aladia_etl.warehouse import merge
from aladia_etl.warehouse.schema import STATUS_COLUMNS
from aladia_etl.warehouse.sinks import Sink
from aladia_etl.warehouse.staging import StageStats, staging_tables

if TYPE_CHECKING:
    from psycopg import Connection

    from aladia_etl.core.settings import Settings

CLOSED = "('cancelled', 'refunded')"


# The orders a batch touches: its staged orders, the orders its staged items name now, and the orders those items
# belonged to before (an item moved to another order, or deleted by key alone). Read before the merge.
TOUCHED_ORDERS = """
CREATE TEMP TABLE touched_orders ON COMMIT DROP AS
SELECT order_id FROM stg_orders WHERE batch_token = ANY(%(tokens)s) AND order_id IS NOT NULL
 UNION
SELECT order_id FROM stg_order_items WHERE batch_token = ANY(%(tokens)s) AND order_id IS NOT NULL
 UNION
SELECT i.order_id FROM fact_order_item i
 WHERE i.order_id IS NOT NULL
   AND i.order_item_id IN (SELECT order_item_id FROM stg_order_items WHERE batch_token = ANY(%(tokens)s))
"""

OPEN = f"o.status NOT IN {CLOSED}"


def _contribution(sign: int, touched: bool = True) -> str:
    """What the touched orders (all orders: `touched=False`) add to their days' summary rows, times `sign`: -1
    before the merge takes it out, +1 after puts it back. A day's row is the sum of its orders' contributions, so the
    summary moves by the batch's difference and costs the batch's orders, not the day's (a recompute read every order
    of the day: 0.5 s per batch on a day of 200k orders)."""
    only = "AND order_id IN (SELECT order_id FROM touched_orders)" if touched else ""
    statuses = ", ".join(f"{sign} * count(*) FILTER (WHERE o.status = '{s}')" for s in STATUS_COLUMNS)
    return f"""
SELECT o.order_date,
       {sign} * count(*),
       {sign} * coalesce(sum(o.total_amount) FILTER (WHERE {OPEN}), 0),
       {sign} * count(o.total_amount) FILTER (WHERE {OPEN}),
       {sign} * coalesce(sum(items.qty) FILTER (WHERE {OPEN}), 0),
       {statuses}
  FROM fact_order o
  LEFT JOIN (SELECT order_id, sum(quantity::numeric) AS qty FROM fact_order_item
              WHERE NOT is_deleted {only}
              GROUP BY order_id) items ON items.order_id = o.order_id
 WHERE NOT o.is_deleted AND o.order_date IS NOT NULL {only.replace("order_id", "o.order_id", 1)}
 GROUP BY o.order_date
"""


_DELTA_COLUMNS = ("day", "orders", "revenue", "open_priced", "items_sold", *STATUS_COLUMNS)
SUMMARY_BEFORE = f"""
CREATE TEMP TABLE summary_delta ({", ".join(f"{c} {'date' if c == 'day' else 'numeric'}" for c in _DELTA_COLUMNS)})
ON COMMIT DROP;
INSERT INTO summary_delta {_contribution(-1)}
"""
SUMMARY_AFTER = f"INSERT INTO summary_delta {_contribution(1)}"

# avg_order_value is the average amount of the day's open orders that have one: revenue / open_priced, rounded as
# round(avg(...), 2) rounds it.
_SUMS = ", ".join(f"sum({c}) AS {c}" for c in _DELTA_COLUMNS[1:])
_ADDED = {c: f"daily_sales_summary.{c} + EXCLUDED.{c}" for c in _DELTA_COLUMNS[1:]}
APPLY_SUMMARY_DELTA = f"""
WITH delta AS (SELECT day, {_SUMS} FROM summary_delta GROUP BY day)
INSERT INTO daily_sales_summary ({", ".join(_DELTA_COLUMNS)}, avg_order_value, computed_at)
SELECT *, round(revenue / nullif(open_priced, 0), 2), clock_timestamp() FROM delta
ON CONFLICT (day) DO UPDATE SET
       {", ".join(f"{c} = {e}" for c, e in _ADDED.items())},
       avg_order_value = round(({_ADDED["revenue"]}) / nullif({_ADDED["open_priced"]}, 0), 2),
       computed_at = clock_timestamp()
"""
# a day without orders has no row (as a recompute from scratch leaves it)
DROP_EMPTY_DAYS = "DELETE FROM daily_sales_summary WHERE orders = 0 AND day IN (SELECT day FROM summary_delta)"

REBUILD_SUMMARY = f"""
INSERT INTO daily_sales_summary ({", ".join(_DELTA_COLUMNS)}, avg_order_value, computed_at)
SELECT *, round(revenue / nullif(open_priced, 0), 2), clock_timestamp()
  FROM ({_contribution(1, touched=False)}) every_day ({", ".join(_DELTA_COLUMNS)})
"""

# pg_advisory_xact_lock key: one transaction at a time merges orders and moves their days' summaries. Two writers
# (a Spark and a Beam stream, a stream and `dlq replay`) would otherwise each read a contribution that lacks the
# other's uncommitted rows (a stale summary), or insert the same day twice (a unique violation). Taken before
# anything of the orders is read, so each writer's contributions before and after its merge are exact.
SUMMARY_LOCK = 7262

KEEP_DEAD_LETTERS = """
INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, engine, reason, raw_key, raw_value)
SELECT kafka_topic, kafka_partition, kafka_offset, %(engine)s, reason, raw_key, raw_value
  FROM stg_dead_letters WHERE batch_token = ANY(%(tokens)s)
 ORDER BY kafka_topic, kafka_partition, kafka_offset
ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING
"""

ADVANCE_OFFSET = """
INSERT INTO pipeline_offsets (engine, topic, partition, next_offset) VALUES (%s, %s, %s, %s)
ON CONFLICT (engine, topic, partition)
DO UPDATE SET next_offset = GREATEST(pipeline_offsets.next_offset, EXCLUDED.next_offset), updated_at = clock_timestamp()
"""


@dataclass
class ApplyResult:
    applied: bool  # False: this batch id was applied before (a replay) and nothing changed
    stats: StageStats
    rows: int = 0  # warehouse rows inserted or changed by the merges
    days: int = 0


def batch_token(engine: str, stream_id: str, batch_id: int) -> str:
    return f"{engine}:{stream_id}:{batch_id}"


def is_applied(conn: Connection, engine: str, stream_id: str, batch_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pipeline_batches WHERE engine = %s AND stream_id = %s AND batch_id = %s",
        (engine, stream_id, batch_id),
    ).fetchone()
    return row is not None


def clear_stage_prefix(conn: Connection, prefix: str) -> None:
    """Remove everything staged under tokens starting with `prefix` (what a killed stream left behind)."""
    with conn.transaction():
        for table in staging_tables(conn):
            conn.execute(f"DELETE FROM {table} WHERE starts_with(batch_token, %s)", (prefix,))


def next_batch_id(conn: Connection, engine: str, stream_id: str) -> int:
    return scalar(
        conn,
        "SELECT coalesce(max(batch_id) + 1, 0) FROM pipeline_batches WHERE engine = %s AND stream_id = %s",
        (engine, stream_id),
    )


def clear_stage(conn: Connection, token: str) -> None:
    """Remove what a crashed earlier attempt of this batch may have staged."""
    with conn.transaction():
        for table in staging_tables(conn):
            conn.execute(f"DELETE FROM {table} WHERE batch_token = %s", (token,))


def staged_stats(conn: Connection, token: str | list[str]) -> StageStats:
    """What the staging calls of this batch (its token, or its chunks' tokens) recorded, summed (inside the caller's
    transaction)."""
    total = StageStats()
    tokens = [token] if isinstance(token, str) else token
    for (data,) in conn.execute("SELECT stats FROM stg_stats WHERE batch_token = ANY(%s)", (tokens,)):
        total.merge(StageStats.from_dict(data))
    return total


CLAIM = """
INSERT INTO pipeline_batches (engine, stream_id, batch_id, records, rows, dead_letters, tombstones, duration_ms,
                              min_source_ts, max_source_ts, rows_by_table, staged_by)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s,
        to_timestamp(%s::float8 / 1000), to_timestamp(%s::float8 / 1000), %s::jsonb, %s)
ON CONFLICT DO NOTHING RETURNING 1
"""


class StagingLost(ServiceUnavailable):
    """What the apply found staged is not what the caller staged (its rows were cleared meanwhile, e.g. by a stream
    that started while this one had lost its lock): nothing applied; retried, staging again."""


class PositionMoved(AladiaError):
    """A batch that does not continue the warehouse's offsets (another writer applied under the same engine, or a
    relaunch raced an apply): refused, nothing applied."""

    exit_code = ExitCode.CONFLICT


# pg_advisory_xact_lock namespace (two-key form): one apply at a time compares and moves an engine's offsets.
OFFSETS_LOCK = 7263


def check_positions(conn: Connection, engine: str, expect: dict[tuple[str, int], int]) -> None:
    """Inside the apply transaction: every partition the batch covers must start exactly where the warehouse's
    offsets stand (an absent offset is 0), or PositionMoved is raised and the transaction rolls back."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (OFFSETS_LOCK, engine))
    held = applied_offsets(conn, engine)
    moved = [(key, start, held.get(key, 0)) for key, start in sorted(expect.items()) if held.get(key, 0) != start]
    if moved:
        (topic, partition), start, at = moved[0]
        raise PositionMoved(
            f"the warehouse's {engine} offset of {topic}[{partition}] is {at}, but this batch starts at {start}: "
            "another writer applied records of this engine meanwhile; nothing of the batch was applied",
            "make sure one stream per engine writes to this warehouse, then rerun: it resumes from the warehouse's "
            "offsets",
        )


def apply_batch(
    conn: Connection,
    engine: str,
    stream_id: str,
    batch_id: int,
    started: float | None = None,
    expect: dict[tuple[str, int], int] | None = None,
    staged_records: int | None = None,
    sinks: tuple[Sink, ...] | None = None,
) -> ApplyResult:
    """`started` (time.monotonic() when the batch began) gives the batch's recorded duration. With `expect` (per
    partition, the offset the batch starts at), the batch is applied only if it continues the warehouse's offsets
    exactly (`check_positions`). With `staged_records` (how many records the caller staged), a batch whose staging
    lost rows is refused (StagingLost) instead of being claimed half-empty. `sinks`: the pipeline's (None: the
    built-in pipeline's)."""
    with conn.transaction():
        if expect is not None:
            check_positions(conn, engine, expect)
        return apply_staged(
            conn,
            engine,
            stream_id,
            batch_id,
            [batch_token(engine, stream_id, batch_id)],
            started,
            staged_records,
            sinks,
        )


def apply_staged(
    conn: Connection,
    engine: str,
    stream_id: str,
    batch_id: int,
    tokens: list[str],
    started: float | None = None,
    staged_records: int | None = None,
    sinks: tuple[Sink, ...] | None = None,
    staged_by: list[str] | None = None,
    started_ms: int | None = None,
) -> ApplyResult:
    """Apply what is staged under `tokens` as batch `batch_id`, inside the caller's transaction (which has checked
    the positions). `staged_by`: the workers that staged it, recorded with the batch; `started_ms` (wall clock, ms
    since the epoch) instead of `started` when the batch began in another process."""
    params: dict[str, Any] = {"token": tokens[0], "tokens": tokens, "engine": engine}
    stats = staged_stats(conn, tokens)
    if stats.drift:  # records of a changed table shape: nothing applied, the stream re-plans first
        raise SchemaDrift(stats.drift)
    if staged_records is not None and stats.records != staged_records:
        raise StagingLost(
            f"batch {batch_id} staged {staged_records} records but the warehouse holds {stats.records} of them",
            "nothing was applied; the batch is staged again",
        )
    duration_ms = None if started is None else round((time.monotonic() - started) * 1000)
    if started_ms is not None:
        duration_ms = max(0, round(time.time() * 1000) - started_ms)
    claimed = conn.execute(
        CLAIM,
        (
            engine,
            stream_id,
            batch_id,
            stats.records,
            stats.row_count,
            stats.dead_letters,
            stats.tombstones,
            duration_ms,
            stats.min_source_ts_ms,
            stats.max_source_ts_ms if stats.min_source_ts_ms is not None else None,
            json.dumps(dict(stats.rows)) if stats.rows else None,
            staged_by,
        ),
    ).fetchone()
    if claimed is None:
        clear_staged(conn, params)
        return ApplyResult(applied=False, stats=stats)
    merged, days = merge_staged(conn, params, stats, sinks)
    if stats.dead_letters:
        conn.execute(KEEP_DEAD_LETTERS, params)
    if stats.offsets:
        with conn.cursor() as cur:
            cur.executemany(ADVANCE_OFFSET, [(engine, t, p, o) for (t, p), o in stats.offsets.items()])
    clear_staged(conn, params)
    return ApplyResult(applied=True, stats=stats, rows=merged, days=days)


def merge_staged(
    conn: Connection, params: dict[str, Any], stats: StageStats, sinks: tuple[Sink, ...] | None = None
) -> tuple[int, int]:
    """Merge the staged rows of `params["tokens"]` of every sink that has some and, when the orders model's sinks
    have, move the daily summary of every day they touch (inside the caller's transaction). Returns (rows merged,
    days changed)."""
    if sinks is None:
        from aladia_etl.warehouse.compile import builtin

        sinks = builtin().sinks
    merged = 0
    touches_orders = any(s.summary == "daily_sales" and stats.rows.get(s.name) for s in sinks)
    if touches_orders:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SUMMARY_LOCK,))
        conn.execute(TOUCHED_ORDERS, params)
        conn.execute(SUMMARY_BEFORE)
    for sink in sinks:
        if stats.rows.get(sink.name):
            merged += merge.merge(conn, sink, params)
    days = 0
    if touches_orders:
        conn.execute(SUMMARY_AFTER)
        days = conn.execute(APPLY_SUMMARY_DELTA).rowcount
        conn.execute(DROP_EMPTY_DAYS)
    return merged, days


def rebuild_summary(conn: Connection) -> int:
    """Rebuild the whole daily summary from the facts, in one transaction under the summary lock (the streams move it
    by differences: a row edited by hand, or restored apart from its facts, stays wrong until rebuilt). Returns the
    days it holds."""
    from aladia_etl.warehouse.migrations import LATEST, current_version

    if current_version(conn) < LATEST:
        raise AladiaError(
            "the warehouse's schema is older than this aladia's: its daily summary cannot be rebuilt yet",
            "run 'aladia migrate' (or start a stream, which migrates first)",
        )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SUMMARY_LOCK,))
        conn.execute("DELETE FROM daily_sales_summary")
        return conn.execute(REBUILD_SUMMARY).rowcount


def clear_staged(conn: Connection, params: dict[str, Any]) -> None:
    """Delete what is staged under params["tokens"] (inside the caller's transaction)."""
    for table in staging_tables(conn):
        conn.execute(f"DELETE FROM {table} WHERE batch_token = ANY(%(tokens)s)", params)


def applied_offsets(conn: Connection, engine: str) -> dict[tuple[str, int], int]:
    rows = conn.execute(
        "SELECT topic, partition, next_offset FROM pipeline_offsets WHERE engine = %s", (engine,)
    ).fetchall()
    return {(t, p): o for t, p, o in rows}


def record_gaps(conn: Connection, engine: str, found) -> None:
    """Keep each gap (`bus.offsets.Gap`) in `pipeline_gaps` and move the engine's position past it, atomically."""
    with conn.transaction():
        for gap in found:
            conn.execute(
                "INSERT INTO pipeline_gaps (engine, topic, partition, from_offset, to_offset, reason) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (engine, gap.topic, gap.partition, gap.from_offset, gap.resume_at, gap.describe()),
            )
            conn.execute(
                "INSERT INTO pipeline_offsets (engine, topic, partition, next_offset) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (engine, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, "
                "held_offset = NULL, updated_at = clock_timestamp()",
                (engine, gap.topic, gap.partition, gap.resume_at),
            )


def rewind_offsets(conn: Connection, engine: str) -> None:
    """`--from-beginning`: the engine reads every partition again from offset 0 (in effect, from Kafka's log start),
    and each position it had reached is kept as `held_offset`: the gap check then knows that records Kafka has
    deleted since were applied, and raises no false alarm."""
    conn.execute(
        "UPDATE pipeline_offsets SET held_offset = GREATEST(next_offset, coalesce(held_offset, 0)), next_offset = 0, "
        "updated_at = clock_timestamp() WHERE engine = %s",
        (engine,),
    )


def held_offsets(conn: Connection, engine: str) -> dict[tuple[str, int], int]:
    rows = conn.execute(
        "SELECT topic, partition, held_offset FROM pipeline_offsets WHERE engine = %s AND held_offset IS NOT NULL",
        (engine,),
    ).fetchall()
    return {(t, p): o for t, p, o in rows}


def skip_applied(conn: Connection, engine: str, starts: dict[tuple[str, int], int]) -> None:
    """Move positions up to where reading starts (records before it were applied before a rewind, and Kafka has
    deleted them since): the position then continues where the engine reads."""
    if not starts:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "UPDATE pipeline_offsets SET next_offset = %s, updated_at = clock_timestamp() "
            "WHERE engine = %s AND topic = %s AND partition = %s AND next_offset < %s",
            [(o, engine, t, p, o) for (t, p), o in sorted(starts.items())],
        )


def topic_ids(conn: Connection, engine: str) -> dict[str, str]:
    """The Kafka topic id each topic had when the engine's offsets of it were checked last."""
    rows = conn.execute("SELECT topic, topic_id FROM pipeline_topics WHERE engine = %s", (engine,)).fetchall()
    return dict(rows)


def remember_topic_ids(conn: Connection, engine: str, ids: dict[str, str]) -> None:
    if not ids:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pipeline_topics (engine, topic, topic_id) VALUES (%s, %s, %s) ON CONFLICT (engine, topic) "
            "DO UPDATE SET topic_id = EXCLUDED.topic_id, seen_at = clock_timestamp() "
            "WHERE pipeline_topics.topic_id IS DISTINCT FROM EXCLUDED.topic_id",
            [(engine, t, i) for t, i in sorted(ids.items())],
        )


@contextlib.contextmanager
def read_snapshot(conn: Connection) -> Iterator[Connection]:
    """A read-only REPEATABLE READ transaction on an autocommit connection: every query inside sees the same
    warehouse state, even while a stream applies batches (reports and `verify` read several tables)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield conn


def connect(settings: Settings) -> Connection:
    """An autocommit connection to the warehouse database."""
    from aladia_etl.stack.connections import connect as pg_connect

    return pg_connect(settings, settings.postgres.warehouse_db, autocommit=True)
