"""The merge of one sink's staged rows into its warehouse table, inside the apply transaction — the same SQL, built
from the sink, for every table: per key the newest change (by commit position, then change position; a delete wins
a tie) replaces the warehouse row only if it is newer than the row's own position (the LSN guard: an older event
replayed later never overwrites a newer one).

Soft deletes keep the row with `is_deleted = true` and the delete's position (values a delete does not carry are
kept). Hard deletes remove the row and keep the delete's position in the sink's tombstones, so that an older change
replayed later cannot bring the row back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aladia_etl.warehouse.sinks import Sink
from aladia_etl.warehouse.staging import qualified, quoted

if TYPE_CHECKING:
    from psycopg import Connection

POSITION = ("is_deleted", "source_commit_lsn", "source_lsn", "source_ts")
_NEWER = "(EXCLUDED.source_commit_lsn, EXCLUDED.source_lsn) > (t.source_commit_lsn, t.source_lsn)"


def target(sink: Sink) -> str:
    return qualified(sink.target_schema, sink.target_table)


def staging(sink: Sink) -> str:
    return qualified(sink.staging_schema, sink.staging_table)


def tombstones(sink: Sink) -> str:
    from aladia_etl.warehouse.sinks import TOMBSTONES_SCHEMA

    return qualified(TOMBSTONES_SCHEMA, sink.staging_table)


def _newest(sink: Sink, where: str = "") -> str:
    keys = ", ".join(quoted(k) for k in sink.key)
    columns = ", ".join(quoted(c) for c in sink.column_names)
    return (
        f"SELECT DISTINCT ON ({keys}) {columns}, {', '.join(POSITION)} "
        f"FROM {staging(sink)} WHERE batch_token = ANY(%(tokens)s) "
        f"ORDER BY {keys}, source_commit_lsn DESC, source_lsn DESC, is_deleted DESC"
    )


def upsert_sql(sink: Sink) -> str:
    """Soft deletes: every sink's one statement."""
    keys = ", ".join(quoted(k) for k in sink.key)
    columns = [quoted(c) for c in sink.column_names]
    rest = [quoted(c) for c in sink.column_names if c not in sink.key]
    keep = ", ".join(
        f"{c} = CASE WHEN EXCLUDED.is_deleted AND EXCLUDED.{c} IS NULL THEN t.{c} ELSE EXCLUDED.{c} END" for c in rest
    )
    updates = ", ".join(
        [*([keep] if keep else []), "is_deleted = EXCLUDED.is_deleted"]
        + [f"{p} = EXCLUDED.{p}" for p in ("source_commit_lsn", "source_lsn", "source_ts", "loaded_at")]
    )
    return (
        f"INSERT INTO {target(sink)} AS t ({', '.join(columns)}, {', '.join(POSITION)}, loaded_at) "
        f"SELECT {', '.join(columns)}, {', '.join(POSITION)}, clock_timestamp() FROM ({_newest(sink)}) newest "
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates} WHERE {_NEWER}"
    )


def hard_delete_sql(sink: Sink) -> list[str]:
    """Hard deletes, in order: keep the newest deletes' positions in the tombstones, delete the rows they are newer
    than, then upsert the changes that are newer than both the row and the key's tombstone."""
    keys = [quoted(k) for k in sink.key]
    key_list = ", ".join(keys)
    joined = " AND ".join(f"t.{k} = n.{k}" for k in keys)
    tomb_joined = " AND ".join(f"d.{k} = n.{k}" for k in keys)
    columns = [quoted(c) for c in sink.column_names]
    rest = [c for c in columns if c not in keys]
    updates = ", ".join(
        [*(f"{c} = EXCLUDED.{c}" for c in rest)]
        + [f"{p} = EXCLUDED.{p}" for p in ("source_commit_lsn", "source_lsn", "source_ts", "loaded_at")]
    )
    return [
        f"INSERT INTO {tombstones(sink)} AS t ({key_list}, source_commit_lsn, source_lsn) "
        f"SELECT {key_list}, source_commit_lsn, source_lsn FROM ({_newest(sink)}) n WHERE n.is_deleted "
        f"ON CONFLICT ({key_list}) DO UPDATE SET source_commit_lsn = EXCLUDED.source_commit_lsn, "
        f"source_lsn = EXCLUDED.source_lsn WHERE {_NEWER}",
        f"DELETE FROM {target(sink)} t USING ({_newest(sink)}) n WHERE n.is_deleted AND {joined} "
        "AND (n.source_commit_lsn, n.source_lsn) > (t.source_commit_lsn, t.source_lsn)",
        f"INSERT INTO {target(sink)} AS t ({', '.join(columns)}, {', '.join(POSITION)}, loaded_at) "
        f"SELECT {', '.join(columns)}, {', '.join(POSITION)}, clock_timestamp() FROM ({_newest(sink)}) n "
        f"WHERE NOT n.is_deleted AND NOT EXISTS (SELECT 1 FROM {tombstones(sink)} d WHERE {tomb_joined} "
        "AND (d.source_commit_lsn, d.source_lsn) >= (n.source_commit_lsn, n.source_lsn)) "
        f"ON CONFLICT ({key_list}) DO UPDATE SET {updates} WHERE {_NEWER}",
    ]


def merge(conn: Connection, sink: Sink, params: dict) -> int:
    """Merge the sink's staged rows of `params["tokens"]`; returns the warehouse rows changed (deleted or upserted;
    the tombstones kept are not counted)."""
    if sink.deletes == "hard":
        keep, delete, upsert = hard_delete_sql(sink)
        conn.execute(keep, params)
        return conn.execute(delete, params).rowcount + conn.execute(upsert, params).rowcount
    return conn.execute(upsert_sql(sink), params).rowcount
