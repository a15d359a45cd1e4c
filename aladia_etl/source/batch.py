"""One simulated transaction in one round trip: its statements are planned first, then sent to the server as one
simple-protocol query (PostgreSQL runs a multi-statement query as one transaction, rolled back as a whole on any
error) of EXECUTEs of statements the session prepared once, so the server neither parses nor plans them again.
The ids of the rows it inserts come from blocks taken from the tables' sequences in advance.

Each table's inserts go in as one statement (one array per column), first and parents before children (customers,
products, orders, order_items), as an ORM batching its inserts does; updates and deletes follow in the order they
were planned. Every insert has a fresh id, so no update or delete of the same transaction can refer to a row
inserted after it, and each row still sees its changes in the order they were planned.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from aladia_etl.core.sql import one_row
from aladia_etl.source.schema import CAPTURED_TABLES

if TYPE_CHECKING:
    from psycopg import Connection

# The inserted columns and their types: a table's rows go in as one array per column (`unnest`), whatever their
# number, through one prepared statement.
INSERT_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (("id", "bigint"), ("name", "text"), ("email", "text"), ("country", "text")),
    "products": (("id", "bigint"), ("name", "text"), ("category", "text"), ("price", "numeric")),
    "orders": (("id", "bigint"), ("customer_id", "bigint"), ("status", "text"), ("total_amount", "numeric")),
    "order_items": (
        ("id", "bigint"),
        ("order_id", "bigint"),
        ("product_id", "bigint"),
        ("quantity", "integer"),
        ("unit_price", "numeric"),
    ),
}
assert tuple(INSERT_COLUMNS) == CAPTURED_TABLES  # parents before children

# What a transaction runs, prepared once per session: name → (parameter types, SQL); the inserts are added below.
STATEMENTS: dict[str, tuple[str, str]] = {
    "order_status": ("text, bigint", "UPDATE public.orders SET status = $1 WHERE id = $2"),
    "order_total": ("numeric, bigint", "UPDATE public.orders SET total_amount = $1 WHERE id = $2"),
    "item_quantity": ("integer, bigint", "UPDATE public.order_items SET quantity = $1 WHERE id = $2"),
    "customer_email": ("text, bigint", "UPDATE public.customers SET email = $1 WHERE id = $2"),
    "customer_country": ("text, bigint", "UPDATE public.customers SET country = $1 WHERE id = $2"),
    "product_price": ("numeric, bigint", "UPDATE public.products SET price = $1 WHERE id = $2"),
    "delete_order_items": ("bigint", "DELETE FROM public.order_items WHERE order_id = $1"),
    "delete_order": ("bigint", "DELETE FROM public.orders WHERE id = $1"),
    "delete_item": ("bigint", "DELETE FROM public.order_items WHERE id = $1"),
    "delete_customer": ("bigint", "DELETE FROM public.customers WHERE id = $1"),
}
for _table, _columns in INSERT_COLUMNS.items():
    STATEMENTS[f"insert_{_table}"] = (
        ", ".join(f"{kind}[]" for _, kind in _columns),
        f"INSERT INTO public.{_table} ({', '.join(name for name, _ in _columns)}) "
        f"SELECT * FROM unnest({', '.join(f'${n}' for n in range(1, len(_columns) + 1))})",
    )
PREFIX = "aladia_sim_"

# Serialization failures and deadlocks: the transaction is sent again, up to this many times.
RETRY_STATES = ("40001", "40P01")
MAX_RETRIES = 5


def literal(value, quote: Callable[[str], str]) -> str:
    """The SQL literal of one of the few types the simulator writes; strings go through libpq's escaping."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is Decimal:
        if not value.is_finite():
            raise ValueError(f"no SQL literal for {value}")
        return format(value, "f")
    if kind is str:
        return quote(value)
    if value is None:
        return "NULL"
    raise TypeError(f"no SQL literal for {kind.__name__}")


def libpq_quote(conn: Connection) -> Callable[[str], str]:
    """Quoting by the connection's own rules (PQescapeLiteral: encoding, standard_conforming_strings)."""
    from psycopg import pq

    escaping = pq.Escaping(conn.pgconn)
    encoding = conn.info.encoding
    return lambda text: escaping.escape_literal(text.encode(encoding)).decode(encoding)


class Batch:
    """The statements and the counted changes of one transaction, in planning order."""

    __slots__ = ("changes", "rows", "statements")

    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []
        self.rows: dict[str, list[tuple]] = {table: [] for table in INSERT_COLUMNS}
        self.statements: list[tuple[str, tuple]] = []  # (name in STATEMENTS, parameters)

    def insert(self, table: str, row: tuple) -> None:
        self.rows[table].append(row)

    def add(self, statement: str, *values) -> None:
        """One of `STATEMENTS`, with its parameters."""
        self.statements.append((statement, values))

    def __len__(self) -> int:
        return len(self.changes)

    def sql(self, quote: Callable[[str], str]) -> str:
        parts = []
        for table, rows in self.rows.items():
            if rows:
                arrays = ", ".join(
                    "ARRAY[" + ", ".join([literal(v, quote) for v in column]) + "]"
                    for column in zip(*rows, strict=True)
                )
                parts.append(f"EXECUTE {PREFIX}insert_{table}({arrays})")
        for name, values in self.statements:
            parts.append(f"EXECUTE {PREFIX}{name}({', '.join([literal(v, quote) for v in values])})")
        return ";\n".join(parts)


def prepare(conn: Connection) -> None:
    """Prepare `STATEMENTS` in this session (those it has not prepared yet)."""
    have = {row[0] for row in conn.execute("SELECT name FROM pg_prepared_statements")}
    missing = [
        f"PREPARE {PREFIX}{name} ({types}) AS {text}"
        for name, (types, text) in STATEMENTS.items()
        if PREFIX + name not in have
    ]
    if missing:
        conn.execute(";\n".join(missing))


def send(conn: Connection, text: str, pause: Callable[[float], object] = time.sleep) -> int:
    """Run one transaction's text on an autocommit connection; returns how many times it was sent again after a
    serialization failure or a deadlock (the server rolled it back each time). Anything else is raised."""
    import psycopg

    for retry in range(MAX_RETRIES + 1):
        try:
            run_query(conn, text)
            return retry
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) not in RETRY_STATES or retry == MAX_RETRIES:
                raise
        pause(0.005 * 2**retry)
    raise AssertionError("unreachable")  # pragma: no cover


def run_query(conn: Connection, text: str) -> None:
    """One simple-protocol query through the connection's libpq handle (`conn.pgconn`), waiting in poll() with the
    GIL released; its results are read and dropped, the first error is raised as psycopg raises it. A cursor's
    machinery costs more client CPU than a whole small transaction's planning: this is the generator's hot path."""
    import select

    from psycopg import errors, pq

    pgconn = conn.pgconn
    encoding = conn.info.encoding
    pgconn.send_query(text.encode(encoding))
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLOUT)
    while pgconn.flush():  # the rest of a long text, once the socket takes it
        poller.poll()
        pgconn.consume_input()
    poller.modify(pgconn.socket, select.POLLIN)
    error = None
    while True:
        while pgconn.is_busy():
            poller.poll()
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            break
        if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
            error = errors.error_from_result(result, encoding=encoding)
    if error is not None:
        raise error


class IdBlocks:
    """Ids taken from each table's sequence in blocks, so that a transaction's rows have their ids before it is
    sent. Unused ids are lost when the run ends, as ids of rolled-back inserts are: sequences have gaps."""

    def __init__(self, low: int, block: int) -> None:
        self.low = low  # a transaction never inserts more rows into one table than this
        self.block = block
        self.free: dict[str, deque[int]] = {table: deque() for table in INSERT_COLUMNS}

    @classmethod
    def for_txn_size(cls, txn_size: int) -> IdBlocks:
        low = txn_size + 5  # a transaction ends once it has txn_size changes; its last operation adds at most 5
        return cls(low, max(64, 2 * low))

    def take(self, table: str) -> int:
        return self.free[table].popleft()

    def wanted(self) -> dict[str, int]:
        return {t: (self.low + self.block - len(q) if len(q) < self.low else 0) for t, q in self.free.items()}

    def refill(self, conn: Connection) -> None:
        """One round trip, only when a table has fewer than `low` ids left."""
        wanted = self.wanted()
        if not any(wanted.values()):
            return
        arrays = ", ".join(
            f"ARRAY(SELECT nextval(pg_get_serial_sequence('public.{t}', 'id')) FROM generate_series(1, %s))"
            for t in wanted
        )
        row = one_row(conn, f"SELECT {arrays}", list(wanted.values()))
        for table, ids in zip(wanted, row, strict=True):
            self.free[table].extend(ids)
