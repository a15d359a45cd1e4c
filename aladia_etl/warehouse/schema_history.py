"""The schema changes of mirrored tables that streams met, applied or refused (`warehouse.evolution`): recorded as
they happen, listed by `aladia schema history`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import Connection


@dataclass(frozen=True)
class SchemaChangeRow:
    at: str
    engine: str
    stream: str
    table: str
    kind: str
    column: str
    detail: str | None
    outcome: str

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def record(conn: Connection, engine: str, stream: str, changes: list[dict[str, str]]) -> None:
    """`changes`: {table, kind, column, outcome[, detail]} as `evolution.plan` lists them."""
    if not changes:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO schema_history (engine, stream, source_table, kind, column_name, detail, outcome) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(engine, stream, c["table"], c["kind"], c["column"], c.get("detail"), c["outcome"]) for c in changes],
        )


Key = tuple[str, str, str, str, str]


def key(change: dict[str, Any]) -> Key:
    """What makes a change the same one met again: its table, kind, column and outcome, and a type change's types
    (an added or dropped column's detail only says what it may have been renamed from or to)."""
    detail = change.get("detail") or "" if change["kind"] == "type_change" else ""
    return change["table"], change["kind"], change["column"], detail, change["outcome"]


def recorded(conn: Connection) -> set[Key]:
    """The key of every change recorded: a difference kept since (a column ignored, a narrower type kept) that a
    plan meets again is no new change."""
    rows = conn.execute("SELECT DISTINCT source_table, kind, column_name, detail, outcome FROM schema_history")
    return {key({"table": r[0], "kind": r[1], "column": r[2], "detail": r[3], "outcome": r[4]}) for r in rows}


def read(conn: Connection, tables: list[str] | None = None, limit: int = 1000) -> list[SchemaChangeRow]:
    """The newest `limit` changes, oldest first; `tables`: only these source tables (schema.table)."""
    rows = conn.execute(
        "SELECT * FROM (SELECT id, at, engine, stream, source_table, kind, column_name, detail, outcome "
        "FROM schema_history WHERE %(all)s OR source_table = ANY(%(tables)s) ORDER BY id DESC LIMIT %(limit)s) h "
        "ORDER BY id",
        {"all": not tables, "tables": tables or [], "limit": limit},
    ).fetchall()
    return [SchemaChangeRow(r[1].isoformat(), *r[2:]) for r in rows]
