"""Terminal rendering of the report with rich tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from aladia_etl.cli.render import out


def _fmt(value: Any) -> str:
    from aladia_etl.analytics.html import _fmt as fmt

    return fmt(value)


def _table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold", title_justify="left")
    for _, label in columns:
        table.add_column(label)
    for row in rows:
        table.add_row(*(_fmt(row.get(key)) for key, _ in columns))
    return table


def print_report(report: dict[str, Any]) -> None:
    sections = report["sections"]
    if "summary" in sections:
        s = sections["summary"]
        rate = s["cancellation_rate"]
        rows = [
            {"k": "orders", "v": s["orders"]},
            {"k": "revenue", "v": s["revenue"]},
            {"k": "average order value", "v": s["average_order_value"]},
            {"k": "cancellation rate", "v": f"{float(rate) * 100:.1f}%" if rate is not None else "–"},
            {"k": "period", "v": f"{_fmt(s['period']['first_order'])} → {_fmt(s['period']['last_order'])}"},
        ]
        rows += [
            {"k": f"status {k}", "v": f"{v['orders']:,} orders, {_fmt(v['amount'])}"} for k, v in s["by_status"].items()
        ]
        out.print(_table("Summary", rows, [("k", "metric"), ("v", "value")]))
    if "customers" in sections:
        out.print(
            _table(
                "Top customers",
                sections["customers"],
                [
                    ("customer_id", "id"),
                    ("name", "name"),
                    ("orders", "orders"),
                    ("revenue", "revenue"),
                    ("average_order_value", "avg order"),
                    ("last_order", "last order"),
                ],
            )
        )
    if "products" in sections:
        p = sections["products"]
        cols = [
            ("product_id", "id"),
            ("name", "product"),
            ("category", "category"),
            ("units", "units"),
            ("revenue", "revenue"),
        ]
        out.print(_table("Products by revenue", p["by_revenue"], cols))
        out.print(_table("Products by units", p["by_units"], cols))
        out.print(
            _table(
                "Categories",
                p["by_category"],
                [("category", "category"), ("products", "products"), ("units", "units"), ("revenue", "revenue")],
            )
        )
    if "realtime" in sections:
        r = sections["realtime"]
        busy = [m for m in r["per_minute"] if m["orders"]]
        out.print(
            _table(
                f"Last {r['minutes']} minutes (minutes with orders)",
                busy,
                [("minute", "minute"), ("orders", "orders"), ("revenue", "revenue")],
            )
        )
        f = r["freshness"]
        out.print(
            f"freshness: newest source commit {_fmt(f['newest_source_commit'])}, "
            f"{f['seconds_behind']} s behind now, Kafka lag {f['lag_records']} records"
        )
    if "anomalies" in sections:
        a = sections["anomalies"]
        out.print(
            _table(
                f"Anomalous minutes (threshold {a['threshold']})",
                a["minutes_flagged"],
                [
                    ("minute", "minute"),
                    ("metric", "metric"),
                    ("value", "value"),
                    ("baseline_median", "baseline median"),
                    ("z", "z"),
                ],
            )
        )
        out.print(
            _table(
                "Unusually large orders",
                a["orders_flagged"][:20],
                [("order_id", "order"), ("customer_id", "customer"), ("total_amount", "amount"), ("z", "z")],
            )
        )
    if "insights" in sections:
        out.print("[bold]Insights[/bold]")
        for line in sections["insights"]:
            out.print(f"  • {line}", markup=False)
