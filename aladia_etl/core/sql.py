"""Small helpers over psycopg connections, for every layer (psycopg itself is imported only by the type checker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import Connection, Cursor
    from psycopg.abc import Params, QueryNoTemplate


def one_row(conn: Connection | Cursor, query: QueryNoTemplate, params: Params | None = None) -> tuple[Any, ...]:
    """The row a query always returns (`SHOW`, aggregates, `SELECT expression`)."""
    row = conn.execute(query, params).fetchone()
    if row is None:  # not for such a query: a bug in the caller
        raise RuntimeError(f"the query returned no row: {query!r}")
    return row


def scalar(conn: Connection | Cursor, query: QueryNoTemplate, params: Params | None = None) -> Any:
    """The first column of the row a query always returns."""
    return one_row(conn, query, params)[0]
