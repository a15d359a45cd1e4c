"""`aladia verify`: reconcile the warehouse with the source, table by table and day by day.

Source rows go through the same field mapping the pipeline applies (cleansing included), then are compared with
the warehouse's live rows (`v_*` views) by key and by a hash of every value. The daily summary is recomputed from
the source rows here, in Python — independently of the SQL that maintains it — and compared column by column.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from psycopg import sql

from aladia_etl.core.errors import AladiaError, RecordError
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar
from aladia_etl.warehouse.merge import target
from aladia_etl.warehouse.row_mapping import row_mapper
from aladia_etl.warehouse.schema import STATUS_COLUMNS
from aladia_etl.warehouse.sinks import Sink

if TYPE_CHECKING:
    from psycopg import Connection

SAMPLE = 10
CLOSED = {"cancelled", "refunded"}


@dataclass
class TableReport:
    table: str
    source_rows: int = 0
    warehouse_rows: int = 0
    missing: list[int] = field(default_factory=list)  # in the source, not in the warehouse
    extra: list[int] = field(default_factory=list)  # in the warehouse, not (or no longer) in the source
    different: list[int] = field(default_factory=list)  # same key, different values
    rejected: list[int] = field(default_factory=list)  # source rows the transform rejects (dead-lettered)
    columns: dict[str, int] = field(default_factory=dict)  # of the different rows: how many differ in each column
    duplicates: int = 0  # source rows whose key another row has too (a key: override that is not unique)
    absent: bool = False  # the warehouse has no table for it (a source table not captured yet)

    @property
    def ok(self) -> bool:
        return not (self.absent or self.missing or self.extra or self.different or self.duplicates)

    def as_dict(self) -> dict:
        return {
            "table": self.table,
            "ok": self.ok,
            "source_rows": self.source_rows,
            "warehouse_rows": self.warehouse_rows,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "different": len(self.different),
            "rejected": len(self.rejected),
            "different_columns": self.columns,
            "duplicate_keys": self.duplicates,
            "in_warehouse": not self.absent,
            "samples": {
                "missing": self.missing[:SAMPLE],
                "extra": self.extra[:SAMPLE],
                "different": self.different[:SAMPLE],
            },
        }


@dataclass
class SummaryReport:
    applies: bool = True  # False: the pipeline has no daily summary (no orders model)
    days: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "applies": self.applies,
            "days": self.days,
            "missing": self.missing[:SAMPLE],
            "extra": self.extra[:SAMPLE],
            "different": self.different[:SAMPLE],
        }


@dataclass
class VerifyReport:
    tables: list[TableReport]
    summary: SummaryReport
    checked_at: str

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and self.summary.ok

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "checked_at": self.checked_at,
            "tables": [t.as_dict() for t in self.tables],
            "daily_summary": self.summary.as_dict(),
        }


def _normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if isinstance(value, date):
        return value.isoformat()
    return value


def row_hash(values: tuple) -> str:
    return hashlib.md5(repr(tuple(_normalise(v) for v in values)).encode()).hexdigest()


def _source_rows(conn: Connection, sink: Sink) -> tuple[dict[Any, tuple], list[Any]]:
    """A model sink's source rows through its mapping (cleansing included), by key; and the keys of rows the mapping
    rejects (their records were dead-lettered)."""
    columns = list(dict.fromkeys(c.source for c in sink.columns))
    mapper = row_mapper(sink)
    key_at = [sink.column_names.index(k) for k in sink.key]
    key_source = sink.columns[key_at[0]].source
    rows: dict[Any, tuple] = {}
    rejected: list[Any] = []
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(sink.source_schema, sink.source_table)
    )
    with conn.cursor() as cur:
        cur.execute(query)
        for record in cur:
            data = dict(zip(columns, record, strict=True))
            try:
                values = mapper(data)
            except RecordError:
                rejected.append(data.get(key_source))
                continue
            rows[_key(values, key_at)] = values
    return rows, rejected


def _key(values: tuple, key_at: list[int]) -> Any:
    return values[key_at[0]] if len(key_at) == 1 else tuple(values[i] for i in key_at)


def _warehouse_rows(conn: Connection, sink: Sink) -> dict[Any, tuple]:
    key_at = [sink.column_names.index(k) for k in sink.key]
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in sink.column_names)
    query = sql.SQL("SELECT {} FROM {} WHERE NOT is_deleted").format(
        columns, sql.Identifier(sink.target_schema, sink.target_table)
    )
    with conn.cursor() as cur:
        cur.execute(query)
        return {_key(tuple(record), key_at): tuple(record) for record in cur}


# Both sides of a mirror are read as text, in sessions set alike, so that every value compares exactly whatever its
# type (a time with zone as its UTC instant: Debezium carries timetz converted to UTC).
_TEXT_SESSION = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
)


def _as_text(column, name: str) -> sql.Composable:
    ident = sql.Identifier(name)
    if column.kind == "timetz":
        return sql.SQL("({} AT TIME ZONE 'UTC')::text").format(ident)
    if column.kind == "array:timetz":
        return sql.SQL(
            "(SELECT array_agg(x AT TIME ZONE 'UTC' ORDER BY n) FROM unnest({}) WITH ORDINALITY u(x, n))::text"
        ).format(ident)
    return sql.SQL("{}::text").format(ident)


def _mirror_rows(
    conn: Connection, sink: Sink, schema: str, table: str, live_only: bool, source: bool
) -> tuple[dict, int]:
    """The rows as text by key, and how many rows there are (a key that is not unique shows as a difference)."""
    key_at = [sink.column_names.index(k) for k in sink.key]
    query = sql.SQL("SELECT {} FROM {}{}").format(
        sql.SQL(", ").join(_as_text(c, c.source if source else c.name) for c in sink.columns),
        sql.Identifier(schema, table),
        sql.SQL(" WHERE NOT is_deleted" if live_only else ""),
    )
    with conn.cursor() as cur:
        cur.execute(query)
        rows = [tuple(record) for record in cur]
    return {_key(r, key_at): r for r in rows}, len(rows)


def _verify_mirror(src, wh, sink: Sink) -> TableReport:
    for statement in _TEXT_SESSION:
        src.execute(statement)
        wh.execute(statement)
    source, counted = _mirror_rows(src, sink, sink.source_schema, sink.source_table, False, source=True)
    absent = scalar(wh, "SELECT to_regclass(%s)", (target(sink),)) is None  # a table included, not captured yet
    live = sink.deletes == "soft"
    warehouse = {} if absent else _mirror_rows(wh, sink, sink.target_schema, sink.target_table, live, source=False)[0]
    report = compare_table(sink.name, source, warehouse, sink.column_names)
    report.absent = absent
    report.source_rows = counted
    report.duplicates = counted - len(source)  # source rows that share a key: the warehouse keeps one of them
    return report


def compare_table(
    table: str, source: dict[Any, tuple], warehouse: dict[Any, tuple], names: tuple[str, ...] = ()
) -> TableReport:
    """Rows by key; with the column `names`, which columns the different rows differ in."""
    report = TableReport(table, len(source), len(warehouse))
    report.missing = sorted(set(source) - set(warehouse), key=repr)
    report.extra = sorted(set(warehouse) - set(source), key=repr)
    report.different = sorted(
        (k for k in set(source) & set(warehouse) if row_hash(source[k]) != row_hash(warehouse[k])), key=repr
    )
    for key in report.different if names else ():
        for name, a, b in zip(names, source[key], warehouse[key], strict=False):
            if _normalise(a) != _normalise(b):
                report.columns[name] = report.columns.get(name, 0) + 1
    return report


def expected_summary(orders: dict[int, tuple], items: dict[int, tuple]) -> dict[date, tuple]:
    """The daily summary recomputed from mapped source rows (order: id, customer, status, total, day, ...)."""
    qty_by_order: dict[int, int] = defaultdict(int)
    for item in items.values():
        qty_by_order[item[1]] += item[3]
    per_day: dict[date, dict[str, Any]] = {}
    for order_id, (_, _, status, total, day, *_rest) in orders.items():
        if day is None:  # an order without a day is in no day's summary
            continue
        d = per_day.setdefault(
            day, {"orders": 0, "revenue": Decimal("0.00"), "priced": 0, "items": 0, **dict.fromkeys(STATUS_COLUMNS, 0)}
        )
        d["orders"] += 1
        if status in STATUS_COLUMNS:  # another status counts among the orders, in no status's column
            d[status] += 1
        if status is not None and status not in CLOSED:
            d["items"] += qty_by_order.get(order_id, 0)
            if total is not None:  # the average's divisor counts the open orders that have an amount
                d["revenue"] += total
                d["priced"] += 1
    out = {}
    for day, d in per_day.items():
        avg = (d["revenue"] / d["priced"]).quantize(Decimal("0.01"), ROUND_HALF_UP) if d["priced"] else None
        # open_priced last: later batches move the summary by differences built on it, so a wrong one is a fault
        # even while the average it gave is still right
        out[day] = (d["orders"], d["revenue"], avg, d["items"], *(d[s] for s in STATUS_COLUMNS), d["priced"])
    return out


def compare_summary(expected: dict[date, tuple], actual: dict[date, tuple]) -> SummaryReport:
    report = SummaryReport(days=len(expected))
    report.missing = [d.isoformat() for d in sorted(set(expected) - set(actual))]
    report.extra = [d.isoformat() for d in sorted(set(actual) - set(expected))]
    report.different = [
        d.isoformat() for d in sorted(set(expected) & set(actual)) if row_hash(expected[d]) != row_hash(actual[d])
    ]
    return report


def verify(settings: Settings, sinks: tuple[Sink, ...] | None = None) -> VerifyReport:
    """Every sink of the pipeline (None: the built-in one's) against the source, in one consistent snapshot of each:
    a model's tables through its mapping, a mirror column by column; and, with the orders model, the daily summary."""
    from psycopg import IsolationLevel

    from aladia_etl.source.bootstrap import connect as source_connect
    from aladia_etl.warehouse.compile import builtin
    from aladia_etl.warehouse.loader import connect as warehouse_connect
    from aladia_etl.warehouse.loader import read_snapshot

    sinks = builtin().sinks if sinks is None else sinks
    tables = []
    mapped: dict[str, dict[Any, tuple]] = {}
    with source_connect(settings) as src, warehouse_connect(settings) as wh, read_snapshot(wh):
        if scalar(wh, "SELECT to_regclass('daily_sales_summary')") is None:
            raise AladiaError(
                f"the warehouse database {settings.postgres.warehouse_db} has no aladia schema yet",
                "run 'aladia stream' first",
            )
        # One consistent snapshot of the source for all tables.
        src.isolation_level = IsolationLevel.REPEATABLE_READ
        src.read_only = True
        for sink in sinks:
            if sink.model is None:
                tables.append(_verify_mirror(src, wh, sink))
                continue
            source, rejected = _source_rows(src, sink)
            report = compare_table(sink.name, source, _warehouse_rows(wh, sink), sink.column_names)
            report.rejected = rejected
            tables.append(report)
            mapped[sink.name] = source
        src.rollback()
        summary = SummaryReport(applies=False)
        if any(s.summary == "daily_sales" for s in sinks):
            actual = {
                # items sold is NUMERIC (any sum fits): compared as the whole number it is
                r[0]: (*r[1:4], int(r[4]), *r[5:])
                for r in wh.execute(
                    f"SELECT day, orders, revenue, avg_order_value, items_sold, {', '.join(STATUS_COLUMNS)}, "
                    "open_priced FROM daily_sales_summary"
                )
            }
            summary = compare_summary(expected_summary(mapped["orders"], mapped["order_items"]), actual)
    return VerifyReport(tables, summary, datetime.now(UTC).isoformat())
