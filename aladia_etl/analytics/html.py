"""A self-contained HTML report: inline CSS and inline SVG charts, no script and no external resource, so it
opens offline in any browser and can be shared as one file."""

from __future__ import annotations

from html import escape
from typing import Any

from aladia_etl.analytics import model
from aladia_etl.analytics.model import Section, Table, display

WIDTH, HEIGHT, PAD = 760, 240, 48

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:860px;color:#1f2933}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta{color:#627d98;font-size:.85rem} .kpis{display:flex;gap:1rem;flex-wrap:wrap}
.kpi{background:#f0f4f8;border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.kpi b{display:block;font-size:1.3rem} table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{padding:.3rem .5rem;border-bottom:1px solid #e4e7eb;text-align:left} td.n,th.n{text-align:right}
svg.chart{background:#fff;border:1px solid #e4e7eb;border-radius:6px} .axis{stroke:#9aa5b1;stroke-width:1}
.label{font-size:11px;fill:#52606d} .bar{fill:#2680c2} .line{fill:none;stroke:#2680c2;stroke-width:2}
.anomaly{fill:#d64545;stroke:#fff;stroke-width:1.5} .no-baseline{fill:#fff;stroke:#d64545;stroke-width:2}
li{margin:.3rem 0}
"""


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


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


def line_chart(
    name: str, title: str, labels: list[str], values: list[float], marks: set[int], hollow: frozenset[int] = frozenset()
) -> str:
    """A line with `marks` (anomalies) as red dots and `hollow` (changes from a baseline with no spread) as rings."""
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
    for i in sorted(hollow - marks):
        x, y = xy(i, values[i])
        parts.append(
            f'<circle class="no-baseline" cx="{x:.1f}" cy="{y:.1f}" r="5"><title>{escape(labels[i])}: '
            f"{values[i]:,.2f}, a change from a baseline with no spread (no z-score)</title></circle>"
        )
    for i in sorted({0, n // 2, n - 1}):
        x, _ = xy(i, 0)
        parts.append(
            f'<text class="label" x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    parts.append(f'<text class="label" x="4" y="{PAD - 8}">max {top:,.2f}</text></svg>')
    return "".join(parts)


def table_html(table: Table, heading: bool = True) -> str:
    """One table of the report model: its title, its note, then its columns and the rows people see."""
    parts = [f"<h3>{escape(table.title)}</h3>"] if heading else []
    if table.note:
        parts.append(f'<p class="meta">{escape(table.note)}</p>')
    rows = table.shown()
    if not rows:
        parts.append('<p class="meta">No rows.</p>')
    elif table.as_list:
        parts.append("<ul>" + "".join(f"<li>{escape(display(r[table.keys[0]]))}</li>" for r in rows) + "</ul>")
    else:
        cls = [' class="n"' if c.numeric else "" for c in table.columns]
        head = "".join(f"<th{k}>{escape(c.label)}</th>" for k, c in zip(cls, table.columns, strict=True))
        body = "".join(
            "<tr>"
            + "".join(f"<td{k}>{escape(display(v))}</td>" for k, v in zip(cls, table.cells(r), strict=True))
            + "</tr>"
            for r in rows
        )
        parts.append(
            f'<table data-table="{escape(table.name)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        )
    return "".join(parts)


# Insights first after the summary: the page reads top-down from findings to detail.
ORDER = ("summary", "insights", "customers", "products", "realtime", "anomalies")


def _kpis(s: dict[str, Any]) -> str:
    rate = s["cancellation_rate"]
    kpis = [
        ("Orders", display(s["orders"])),
        ("Revenue", display(s["revenue"])),
        ("Average order value", display(s["average_order_value"])),
        ("Cancellation rate", f"{float(rate) * 100:.1f}%" if rate is not None else "–"),
    ]
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi">{escape(k)}<b>{escape(v)}</b></div>' for k, v in kpis)
        + "</div>"
    )


def _per_minute(sections: dict[str, Section], name: str) -> str:
    """Revenue per minute as a line, anomalous minutes marked: under `anomalies`, or `realtime` without it."""
    anomalies = sections.get("anomalies")
    if name == "realtime" and anomalies:
        return ""
    series = anomalies.data["series"] if anomalies else sections[name].data["per_minute"]
    if not series:
        return ""
    marks: set[int] = set()
    hollow: frozenset[int] = frozenset()
    if anomalies:
        flagged = anomalies.data["minutes_flagged"]
        scored = {f["minute"] for f in flagged if f["z"] is not None}
        unscored = {f["minute"] for f in flagged if f["z"] is None}
        marks = {i for i, m in enumerate(series) if m["minute"] in scored}
        hollow = frozenset(i for i, m in enumerate(series) if m["minute"] in unscored)
    return line_chart(
        "revenue-per-minute",
        "Revenue per minute (anomalies in red)",
        [m["minute"].strftime("%H:%M") for m in series],
        [_num(m["revenue"]) for m in series],
        marks,
        hollow,
    )


def _charts(section: Section, sections: dict[str, Section]) -> str:
    data = section.data
    if section.name == "summary":
        return _kpis(data)
    if section.name == "customers" and data:
        return bar_chart(
            "top-customers",
            "Revenue of the top customers",
            [r["name"] or str(r["customer_id"]) for r in data],
            [_num(r["revenue"]) for r in data],
            horizontal=True,
        )
    if section.name == "products" and data["by_category"]:
        return bar_chart(
            "categories",
            "Revenue per category",
            [r["category"] for r in data["by_category"]],
            [_num(r["revenue"]) for r in data["by_category"]],
            horizontal=True,
        )
    if section.name in ("realtime", "anomalies"):
        return _per_minute(sections, section.name)
    return ""


def _daily(daily: list[dict[str, Any]]) -> str:
    if not daily:
        return ""
    chart = bar_chart(
        "daily-revenue", "Revenue per day", [d["day"].isoformat() for d in daily], [_num(d["revenue"]) for d in daily]
    )
    return "<h2>Revenue over time</h2>" + chart


def render(report: dict[str, Any]) -> str:
    sections = {s.name: s for s in model.sections(report)}
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>aladia report</title><style>{CSS}</style></head><body>",
        "<h1>aladia — sales report</h1>",
        f'<p class="meta">Generated {escape(display(report["generated_at"]))} from the warehouse.</p>',
    ]
    if "summary" not in sections:
        out.append(_daily(report.get("daily") or []))
    for name in ORDER:
        if name not in sections:
            continue
        section = sections[name]
        out.append(f"<h2>{escape(section.title)}</h2>")
        out.append(_charts(section, sections))
        for table in section.tables:
            out.append(table_html(table, heading=table.title != section.title))
        if name == "summary":
            out.append(_daily(report.get("daily") or []))
    out.append("</body></html>")
    return "\n".join(p for p in out if p)
