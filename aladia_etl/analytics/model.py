"""The report model: every section as a typed value that lists its tables once.

`build_report` returns plain section data (the JSON shape); `sections(report)` wraps each section in a `Section`
whose `tables` name their columns (key, label, numeric or not) and rows. The terminal, HTML and CSV renderers
iterate these tables; none of them names a column. A table's `name` is its CSV file name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    name: str  # the CSV file name, without ".csv"
    title: str
    columns: tuple[Column, ...]
    rows: list[Row]
    note: str = ""  # one line for people under the title (terminal, HTML); not in the CSV
    limit: int | None = None  # people see at most this many rows; the CSV and JSON have them all
    keep: Callable[[Row], bool] | None = None  # people see only these rows; the CSV and JSON have them all
    as_list: bool = False  # a single text column, shown to people as a bulleted list
    readable: Callable[[Row], Row] | None = None  # how people see a row (labels, percentages); CSV and JSON keep it

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.columns]

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.columns]

    def shown(self) -> list[Row]:
        """The rows people see (terminal and HTML)."""
        rows = [r for r in self.rows if self.keep(r)] if self.keep else list(self.rows)
        rows = rows[: self.limit] if self.limit is not None else rows
        return [self.readable(r) for r in rows] if self.readable else rows

    def cells(self, row: Row) -> list[Any]:
        return [row.get(key) for key in self.keys]


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    data: Any  # the section's data, exactly as in the JSON output
    tables: tuple[Table, ...]


def display(value: Any) -> str:
    """A value as people read it: money and ratios with their decimals, thousands separators, UTC times."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        places = max(2, -exponent) if isinstance(exponent, int) else 2
        return f"{value:,.{places}f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _cols(*specs: tuple[str, str] | tuple[str, str, bool]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


N = True  # numeric
METRIC_VALUE = _cols(("metric", "metric"), ("value", "value", N))
PRODUCT = _cols(
    ("product_id", "id"),
    ("name", "product"),
    ("category", "category"),
    ("units", "units", N),
    ("revenue", "revenue", N),
)


def _readable_summary(row: Row) -> Row:
    """'cancellation_rate' 0.3333 → 'cancellation rate' '33.3%'; 'status.paid.orders' → 'status paid: orders'."""
    metric, value = row["metric"], row["value"]
    if metric == "cancellation_rate" and value is not None:
        value = f"{float(value) * 100:.1f}%"
    label = metric.replace("_", " ")
    if "." in label:
        head, _, rest = label.partition(".")
        label = f"{head} {rest.replace('.', ': ')}"
    return {"metric": label, "value": value}


def _summary(data: dict[str, Any]) -> tuple[Table, ...]:
    rows = [{"metric": k, "value": data[k]} for k in ("orders", "revenue", "average_order_value", "cancellation_rate")]
    rows += [{"metric": f"period.{k}", "value": v} for k, v in data["period"].items()]
    rows += [{"metric": f"status.{s}.{k}", "value": v} for s, d in data["by_status"].items() for k, v in d.items()]
    return (Table("summary", "Summary", METRIC_VALUE, rows, readable=_readable_summary),)


def _customers(data: list[Row]) -> tuple[Table, ...]:
    columns = _cols(
        ("customer_id", "id"),
        ("name", "name"),
        ("email", "email"),
        ("orders", "orders", N),
        ("revenue", "revenue", N),
        ("average_order_value", "avg order", N),
        ("last_order", "last order"),
    )
    return (Table("customers", "Top customers", columns, data),)


def _products(data: dict[str, Any]) -> tuple[Table, ...]:
    categories = _cols(
        ("category", "category"), ("products", "products", N), ("units", "units", N), ("revenue", "revenue", N)
    )
    return (
        Table("products_by_revenue", "Products by revenue", PRODUCT, data["by_revenue"]),
        Table("products_by_units", "Products by units", PRODUCT, data["by_units"]),
        Table("categories", "Categories", categories, data["by_category"]),
    )


def _realtime(data: dict[str, Any]) -> tuple[Table, ...]:
    per_minute = _cols(("minute", "minute"), ("orders", "orders", N), ("revenue", "revenue", N))
    return (
        Table(
            "realtime_per_minute",
            f"Last {data['minutes']} minutes",
            per_minute,
            data["per_minute"],
            note="minutes with orders (the CSV and JSON have every minute)",
            keep=lambda r: bool(r["orders"]),
        ),
        Table(
            "realtime_freshness",
            "Pipeline freshness",
            METRIC_VALUE,
            [{"metric": k, "value": v} for k, v in data["freshness"].items()],
        ),
    )


def _anomalies(data: dict[str, Any]) -> tuple[Table, ...]:
    minutes = _cols(
        ("metric", "metric"),
        ("minute", "minute"),
        ("value", "value", N),
        ("baseline_median", "baseline median", N),
        ("z", "z", N),
        ("no_baseline", "no baseline"),
    )
    orders = _cols(
        ("order_id", "order"),
        ("customer_id", "customer"),
        ("total_amount", "amount", N),
        ("median_amount", "median amount", N),
        ("z", "z", N),
    )
    return (
        Table(
            "anomalous_minutes",
            f"Anomalous minutes (threshold {data['threshold']})",
            minutes,
            data["minutes_flagged"],
            note=data["method"],
        ),
        Table("anomalous_orders", "Unusually large orders", orders, data["orders_flagged"], limit=20),
    )


def _insights(data: list[str]) -> tuple[Table, ...]:
    rows = [{"insight": line} for line in data]
    return (Table("insights", "Insights", _cols(("insight", "insight")), rows, as_list=True),)


BUILDERS: dict[str, tuple[str, Callable[[Any], tuple[Table, ...]]]] = {
    "summary": ("Summary", _summary),
    "customers": ("Top customers", _customers),
    "products": ("Products", _products),
    "realtime": ("Realtime", _realtime),
    "anomalies": ("Anomalies", _anomalies),
    "insights": ("Insights", _insights),
}


def section(name: str, data: Any) -> Section:
    if name not in BUILDERS:
        raise ValueError(f"unknown report section: {name}")
    title, build = BUILDERS[name]
    return Section(name, title, data, build(data))


def sections(report: dict[str, Any]) -> list[Section]:
    """The report's sections, in the report's order."""
    return [section(name, data) for name, data in report["sections"].items()]
