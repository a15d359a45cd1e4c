"""What the streams applied, read back from the warehouse: each applied batch's figures in `pipeline_batches`
(records, rows, dead letters, tombstones, duration, source commit times), the dead letters by status, the accepted
gaps, the applied offsets and the newest schema changes. These numbers outlive the streams' processes: `aladia
status`, the health API and its /metrics (`aladia serve`) all read them here.

Freshness of a batch is the time from the newest source commit it carried (`max_source_ts`, Debezium's
`source.ts_ms`) to the moment the warehouse committed it (`applied_at`).

Every function takes an autocommit warehouse connection; a warehouse whose schema predates the batch figures
(migration 2) reads as empty."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aladia_etl.core.sql import scalar

if TYPE_CHECKING:
    from psycopg import Connection

# Upper bounds (seconds) of the batch-duration histogram.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_FRESHNESS = "greatest(0, extract(epoch FROM applied_at - max_source_ts))::float8"


@dataclass
class BatchTotals:
    """Everything one stream of one engine applied (applied batches only; replays change nothing)."""

    engine: str
    stream: str
    batches: int = 0
    records: int = 0
    rows: int = 0
    dead_letters: int = 0
    tombstones: int = 0
    last_applied_at: datetime | None = None
    last_duration_s: float | None = None
    # Batch-duration histogram over batches that recorded a duration: cumulative counts per DURATION_BUCKETS bound.
    duration_buckets: list[int] = field(default_factory=list)
    duration_count: int = 0
    duration_sum_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("duration_buckets", "duration_count", "duration_sum_s"):
            data.pop(key)
        return data


def has_figures(conn: Connection) -> bool:
    """Whether the warehouse has the batch figures (migration 2 created `pipeline_gaps` with them)."""
    return scalar(conn, "SELECT to_regclass('pipeline_gaps') IS NOT NULL")


def batch_totals(conn: Connection) -> list[BatchTotals]:
    if not has_figures(conn):
        return []
    buckets = ", ".join(f"count(*) FILTER (WHERE duration_ms <= {round(b * 1000)})" for b in DURATION_BUCKETS)
    rows = conn.execute(
        "SELECT engine, stream_id, count(*), coalesce(sum(records), 0), coalesce(sum(rows), 0), "
        "coalesce(sum(dead_letters), 0), coalesce(sum(tombstones), 0), max(applied_at), "
        "count(duration_ms), coalesce(sum(duration_ms), 0), "
        "(array_agg(duration_ms ORDER BY applied_at DESC))[1], "
        f"{buckets} FROM pipeline_batches GROUP BY engine, stream_id ORDER BY engine, stream_id"
    ).fetchall()
    out = []
    for r in rows:
        out.append(
            BatchTotals(
                engine=r[0],
                stream=r[1],
                batches=r[2],
                records=int(r[3]),
                rows=int(r[4]),
                dead_letters=int(r[5]),
                tombstones=int(r[6]),
                last_applied_at=r[7],
                duration_count=r[8],
                duration_sum_s=int(r[9]) / 1000,
                last_duration_s=None if r[10] is None else r[10] / 1000,
                duration_buckets=[int(c) for c in r[11:]],
            )
        )
    return out


def table_rows(conn: Connection) -> dict[tuple[str, str, str], int]:
    """Rows applied per (engine, stream, warehouse table) — the pipeline's table names (`warehouse.sinks`)."""
    if (
        not has_figures(conn)
        or not conn.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = 'pipeline_batches'::regclass AND attname = 'rows_by_table'"
        ).fetchone()
    ):
        return {}
    rows = conn.execute(
        "SELECT engine, stream_id, t.key, sum(t.value::bigint) FROM pipeline_batches, "
        "jsonb_each_text(rows_by_table) t WHERE rows_by_table IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    return {(e, s, t): int(n) for e, s, t, n in rows}


def freshness(
    conn: Connection, window_s: int, quantiles: tuple[float, ...] = (0.5, 0.99)
) -> dict[tuple[str, str], dict]:
    """Per (engine, stream): freshness quantiles (seconds) over the batches applied in the last `window_s`
    seconds, how many batches they cover and the sum of their freshness."""
    if not has_figures(conn):
        return {}
    rows = conn.execute(
        f"SELECT engine, stream_id, count(*), coalesce(sum({_FRESHNESS}), 0), "
        f"percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY {_FRESHNESS}) "
        "FROM pipeline_batches WHERE applied_at > clock_timestamp() - make_interval(secs => %s) "
        "AND max_source_ts IS NOT NULL GROUP BY engine, stream_id",
        (list(quantiles), window_s),
    ).fetchall()
    return {
        (e, s): {"batches": n, "sum_s": float(total), "quantiles": dict(zip(quantiles, values, strict=True))}
        for e, s, n, total, values in rows
    }


def series(conn: Connection, window_s: int, step_s: int = 10) -> list[dict[str, Any]]:
    """The last `window_s` seconds in steps of `step_s` per (engine, stream): records per second, batches,
    the longest batch duration, freshness p50/p99 and dead letters — what the dashboard draws."""
    if not has_figures(conn):
        return []
    rows = conn.execute(
        "SELECT engine, stream_id, floor(extract(epoch FROM applied_at) / %(step)s) * %(step)s AS t, count(*), "
        "sum(records), sum(dead_letters), max(duration_ms), "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {_FRESHNESS}), "
        f"percentile_cont(0.99) WITHIN GROUP (ORDER BY {_FRESHNESS}) "
        "FROM pipeline_batches WHERE applied_at > clock_timestamp() - make_interval(secs => %(window)s) "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        {"step": step_s, "window": window_s},
    ).fetchall()
    return [
        {
            "engine": e,
            "stream": s,
            "t": float(t),
            "batches": n,
            "events_per_s": round(float(records) / step_s, 2),
            "dead_letters": int(dead),
            "batch_duration_s": None if longest is None else longest / 1000,
            "freshness_p50_s": None if p50 is None else round(p50, 3),
            "freshness_p99_s": None if p99 is None else round(p99, 3),
        }
        for e, s, t, n, records, dead, longest, p50, p99 in rows
    ]


def dead_letter_counts(conn: Connection) -> dict[str, int]:
    """Dead letters kept in the warehouse, by status (dead, replayed)."""
    if not has_figures(conn):
        return {}
    counts = {"dead": 0, "replayed": 0}
    counts.update(dict(conn.execute("SELECT status, count(*) FROM dead_letters GROUP BY status").fetchall()))
    return counts


def gap_totals(conn: Connection) -> dict[str, dict[str, int]]:
    """Per engine: data loss accepted with --accept-data-loss (gaps, and the records they skipped)."""
    if not has_figures(conn):
        return {}
    rows = conn.execute(
        "SELECT engine, count(*), coalesce(sum(to_offset - from_offset), 0) FROM pipeline_gaps GROUP BY engine"
    ).fetchall()
    return {e: {"gaps": n, "records": int(records)} for e, n, records in rows}


def schema_changes(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The newest `limit` schema changes streams met (`schema_history`, migration 6), newest first."""
    from aladia_etl.warehouse import schema_history

    if scalar(conn, "SELECT to_regclass('schema_history') IS NULL"):
        return []
    return [row.as_dict() for row in reversed(schema_history.read(conn, limit=limit))]


def applied_offsets(conn: Connection) -> dict[str, dict[tuple[str, int], int]]:
    """Per engine: the next offset to apply of every partition it has applied records of."""
    if scalar(conn, "SELECT to_regclass('pipeline_offsets') IS NULL"):
        return {}
    out: dict[str, dict[tuple[str, int], int]] = {}
    for engine, topic, partition, offset in conn.execute(
        "SELECT engine, topic, partition, next_offset FROM pipeline_offsets"
    ):
        out.setdefault(engine, {})[(topic, partition)] = offset
    return out
