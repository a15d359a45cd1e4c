"""A self-contained HTML report: inline CSS and inline SVG charts, no script and no external resource, so it
opens offline in any browser and can be shared as one file."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 760, 240, 48

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:860px;color:#1f2933}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
.meta{color:#627d98;font-size:.85rem} .kpis{display:flex;gap:1rem;flex-wrap:wrap}
.kpi{background:#f0f4f8;border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.kpi b{display:block;font-size:1.3rem} table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{padding:.3rem .5rem;border-bottom:1px solid #e4e7eb;text-align:left} td.n,th.n{text-align:right}
svg.chart{background:#fff;border:1px solid #e4e7eb;border-radius:6px} .axis{stroke:#9aa5b1;stroke-width:1}
.label{font-size:11px;fill:#52606d} .bar{fill:#2680c2} .line{fill:none;stroke:#2680c2;stroke-width:2}
.anomaly{fill:#d64545;stroke:#fff;stroke-width:1.5} li{margin:.3rem 0}
"""


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _fmt(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def bar_chart(name: str, title: str, labels: list[str], values: list[float], horizontal: bool = False) -> str:
    if not values:
        return f'<p class="meta">No data for “{escape(title)}”.</p>'
    top = max(max(values), 1e-9)
    parts = [
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(title)}" '
        f'width="{WIDTH}" height="{HEIGHT if not horizontal else 28 * len(values) + 40}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    if horizontal:
        label_w = 200
        for i, (label, value) in enumerate(zip(labels, values, strict=True)):
            y = 20 + i * 28
            w = (WIDTH - label_w - 90) * value / top
            parts.append(
                f'<text class="label" x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(label[:30])}</text>'
            )
            parts.append(f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="20"/>')
            parts.append(f'<text class="label" x="{label_w + w + 6:.1f}" y="{y + 14}">{value:,.2f}</text>')
    else:
        n = len(values)
        plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
        step = plot_w / n
        parts.append(f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>')
        for i, value in enumerate(values):
            h = plot_h * value / top
            parts.append(
                f'<rect class="bar" x="{PAD + i * step + 1:.1f}" y="{HEIGHT - PAD - h:.1f}" '
                f'width="{max(step - 2, 1):.1f}" height="{h:.1f}"><title>{escape(labels[i])}: '
                f"{value:,.2f}</title></rect>"
            )
        for i in sorted({0, n // 2, n - 1}):
            parts.append(
                f'<text class="label" x="{PAD + i * step + step / 2:.1f}" y="{HEIGHT - PAD + 16}" '
                f'text-anchor="middle">{escape(labels[i])}</text>'
            )
        parts.append(f'<text class="label" x="4" y="{PAD - 8}">max {top:,.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(name: str, title: str, labels: list[str], values: list[float], marks: set[int]) -> str:
    if not values:
        return f'<p class="meta">No data for “{escape(title)}”.</p>'
    top = max(max(values), 1e-9)
    n = len(values)
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD + (plot_w * i / max(n - 1, 1)), HEIGHT - PAD - plot_h * v / top

    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
    parts = [
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(title)}" width="{WIDTH}" '
        f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>',
        f'<polyline class="line" points="{points}"/>',
    ]
    for i in sorted(marks):
        x, y = xy(i, values[i])
        parts.append(
            f'<circle class="anomaly" data-anomaly="{escape(labels[i])}" cx="{x:.1f}" cy="{y:.1f}" r="6">'
            f"<title>anomaly at {escape(labels[i])}: {values[i]:,.2f}</title></circle>"
        )
    for i in sorted({0, n // 2, n - 1}):
        x, _ = xy(i, 0)
        parts.append(
            f'<text class="label" x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    parts.append(f'<text class="label" x="4" y="{PAD - 8}">max {top:,.2f}</text></svg>')
    return "".join(parts)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    if not rows:
        return '<p class="meta">No rows.</p>'
    head = "".join(f'<th class="{"n" if k in NUMERIC else ""}">{escape(label)}</th>' for k, label in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if k in NUMERIC else ""}">{escape(_fmt(r.get(k)))}</td>' for k, _ in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


NUMERIC = {"orders", "revenue", "average_order_value", "units", "products", "value"}


def render(report: dict[str, Any]) -> str:
    sections = report["sections"]
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>aladia report</title><style>{CSS}</style></head><body>",
        "<h1>aladia — sales report</h1>",
        f'<p class="meta">Generated {escape(_fmt(report["generated_at"]))} from the warehouse.</p>',
    ]
    if "summary" in sections:
        s = sections["summary"]
        rate = s["cancellation_rate"]
        kpis = [
            ("Orders", _fmt(s["orders"])),
            ("Revenue", _fmt(s["revenue"])),
            ("Average order value", _fmt(s["average_order_value"])),
            ("Cancellation rate", f"{float(rate) * 100:.1f}%" if rate is not None else "–"),
        ]
        out.append(
            '<h2>Summary</h2><div class="kpis">'
            + "".join(f'<div class="kpi">{escape(k)}<b>{escape(v)}</b></div>' for k, v in kpis)
            + "</div>"
        )
        status_rows = [{"status": k, **v} for k, v in s["by_status"].items()]
        out.append(_table(status_rows, [("status", "Status"), ("orders", "Orders"), ("amount", "Amount")]))
    daily = report.get("daily") or []
    if daily:
        out.append("<h2>Revenue over time</h2>")
        out.append(
            bar_chart(
                "daily-revenue",
                "Revenue per day",
                [d["day"].isoformat() for d in daily],
                [_num(d["revenue"]) for d in daily],
            )
        )
    if "insights" in sections:
        out.append("<h2>Insights</h2><ul>" + "".join(f"<li>{escape(i)}</li>" for i in sections["insights"]) + "</ul>")
    if "customers" in sections:
        c = sections["customers"]
        out.append("<h2>Top customers</h2>")
        out.append(
            bar_chart(
                "top-customers",
                "Revenue of the top customers",
                [r["name"] or str(r["customer_id"]) for r in c],
                [_num(r["revenue"]) for r in c],
                horizontal=True,
            )
        )
        out.append(
            _table(
                c,
                [
                    ("name", "Customer"),
                    ("orders", "Orders"),
                    ("revenue", "Revenue"),
                    ("average_order_value", "Avg order"),
                    ("last_order", "Last order"),
                ],
            )
        )
    if "products" in sections:
        p = sections["products"]
        out.append("<h2>Categories</h2>")
        out.append(
            bar_chart(
                "categories",
                "Revenue per category",
                [r["category"] for r in p["by_category"]],
                [_num(r["revenue"]) for r in p["by_category"]],
                horizontal=True,
            )
        )
        out.append("<h2>Products by revenue</h2>")
        out.append(
            _table(
                p["by_revenue"],
                [("name", "Product"), ("category", "Category"), ("units", "Units"), ("revenue", "Revenue")],
            )
        )
    anomalies = sections.get("anomalies")
    series = anomalies["series"] if anomalies else (sections.get("realtime") or {}).get("per_minute")
    if series:
        labels = [m["minute"].strftime("%H:%M") for m in series]
        marks = set()
        if anomalies:
            flagged = {f["minute"] for f in anomalies["minutes_flagged"]}
            marks = {i for i, m in enumerate(series) if m["minute"] in flagged}
        out.append("<h2>Revenue per minute" + (" and anomalies" if anomalies else "") + "</h2>")
        out.append(
            line_chart(
                "revenue-per-minute",
                "Revenue per minute (anomalies in red)",
                labels,
                [_num(m["revenue"]) for m in series],
                marks,
            )
        )
        if anomalies:
            out.append(f'<p class="meta">{escape(anomalies["method"])}; threshold {anomalies["threshold"]}.</p>')
            out.append(
                _table(
                    anomalies["orders_flagged"][:20],
                    [("order_id", "Order"), ("customer_id", "Customer"), ("total_amount", "Amount"), ("z", "z")],
                )
            )
    if "realtime" in sections:
        f = sections["realtime"]["freshness"]
        out.append("<h2>Pipeline freshness</h2>")
        out.append(
            _table(
                [
                    {"metric": "newest source commit", "value": f["newest_source_commit"]},
                    {"metric": "seconds behind now", "value": f["seconds_behind"]},
                    {"metric": "Kafka lag (records)", "value": f["lag_records"]},
                ],
                [("metric", "Metric"), ("value", "Value")],
            )
        )
    out.append("</body></html>")
    return "\n".join(out)
