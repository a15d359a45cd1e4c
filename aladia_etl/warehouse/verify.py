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
from typing import Any

from aladia_etl.core.errors import AladiaError, RecordError
from aladia_etl.core.settings import Settings
from aladia_etl.source import schema
from aladia_etl.warehouse.rows import MAPPERS
from aladia_etl.warehouse.schema import COLUMNS, STATUS_COLUMNS, VIEWS

SOURCE_COLUMNS = {
    "customers": ("id", "name", "email", "country", "created_at", "updated_at"),
    "products": ("id", "name", "category", "price", "created_at", "updated_at"),
    "orders": ("id", "customer_id", "status", "total_amount", "created_at", "updated_at"),
    "order_items": ("id", "order_id", "product_id", "quantity", "unit_price", "created_at", "updated_at"),
}
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

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

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
            "samples": {
                "missing": self.missing[:SAMPLE],
                "extra": self.extra[:SAMPLE],
                "different": self.different[:SAMPLE],
            },
        }


@dataclass
class SummaryReport:
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


def _source_rows(conn, table: str) -> tuple[dict[int, tuple], list[int]]:
    columns = SOURCE_COLUMNS[table]
    mapper = MAPPERS[table]
    rows: dict[int, tuple] = {}
    rejected: list[int] = []
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(columns)} FROM public.{table}")
        for record in cur:
            data = dict(zip(columns, record, strict=True))
            try:
                values = mapper(data)
            except RecordError:
                rejected.append(data["id"])
                continue
            rows[values[0]] = values
    return rows, rejected


def _warehouse_rows(conn, table: str) -> dict[int, tuple]:
    columns = COLUMNS[table]
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(columns)} FROM {VIEWS[table]}")
        return {record[0]: tuple(record) for record in cur}


def compare_table(table: str, source: dict[int, tuple], warehouse: dict[int, tuple]) -> TableReport:
    report = TableReport(table, len(source), len(warehouse))
    report.missing = sorted(set(source) - set(warehouse))
    report.extra = sorted(set(warehouse) - set(source))
    report.different = sorted(k for k in set(source) & set(warehouse) if row_hash(source[k]) != row_hash(warehouse[k]))
    return report


def expected_summary(orders: dict[int, tuple], items: dict[int, tuple]) -> dict[date, tuple]:
    """The daily summary recomputed from mapped source rows (order: id, customer, status, total, day, ...)."""
    qty_by_order: dict[int, int] = defaultdict(int)
    for item in items.values():
        qty_by_order[item[1]] += item[3]
    per_day: dict[date, dict[str, Any]] = {}
    for order_id, (_, _, status, total, day, *_rest) in orders.items():
        d = per_day.setdefault(
            day, {"orders": 0, "revenue": Decimal("0.00"), "open": 0, "items": 0, **dict.fromkeys(STATUS_COLUMNS, 0)}
        )
        d["orders"] += 1
        d[status] += 1
        if status not in CLOSED:
            d["revenue"] += total
            d["open"] += 1
            d["items"] += qty_by_order.get(order_id, 0)
    out = {}
    for day, d in per_day.items():
        avg = (d["revenue"] / d["open"]).quantize(Decimal("0.01"), ROUND_HALF_UP) if d["open"] else None
        out[day] = (d["orders"], d["revenue"], avg, d["items"], *(d[s] for s in STATUS_COLUMNS))
    return out


def compare_summary(expected: dict[date, tuple], actual: dict[date, tuple]) -> SummaryReport:
    report = SummaryReport(days=len(expected))
    report.missing = [d.isoformat() for d in sorted(set(expected) - set(actual))]
    report.extra = [d.isoformat() for d in sorted(set(actual) - set(expected))]
    report.different = [
        d.isoformat() for d in sorted(set(expected) & set(actual)) if row_hash(expected[d]) != row_hash(actual[d])
    ]
    return report


def verify(settings: Settings) -> VerifyReport:
    from aladia_etl.source.bootstrap import connect as source_connect
    from aladia_etl.warehouse.loader import connect as warehouse_connect
    from aladia_etl.warehouse.loader import read_snapshot

    tables = []
    mapped: dict[str, dict[int, tuple]] = {}
    from psycopg import IsolationLevel

    with source_connect(settings) as src, warehouse_connect(settings) as wh, read_snapshot(wh):
        if wh.execute("SELECT to_regclass('daily_sales_summary')").fetchone()[0] is None:
            raise AladiaError(
                f"the warehouse database {settings.postgres.warehouse_db} has no aladia schema yet",
                "run 'aladia stream' first",
            )
        # One consistent snapshot of the source for all tables.
        src.isolation_level = IsolationLevel.REPEATABLE_READ
        src.read_only = True
        for table in schema.CAPTURED_TABLES:
            source, rejected = _source_rows(src, table)
            report = compare_table(table, source, _warehouse_rows(wh, table))
            report.rejected = rejected
            tables.append(report)
            mapped[table] = source
        src.rollback()
        actual = {
            # items sold is NUMERIC (any sum fits): compared as the whole number it is
            r[0]: (*r[1:4], int(r[4]), *r[5:])
            for r in wh.execute(
                f"SELECT day, orders, revenue, avg_order_value, items_sold, {', '.join(STATUS_COLUMNS)} "
                "FROM daily_sales_summary"
            )
        }
    summary = compare_summary(expected_summary(mapped["orders"], mapped["order_items"]), actual)
    return VerifyReport(tables, summary, datetime.now(UTC).isoformat())
