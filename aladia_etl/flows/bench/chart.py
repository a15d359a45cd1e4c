"""The bench chart: one self-contained SVG/HTML page with drain rates and freshness percentiles."""

from __future__ import annotations

from html import escape
from typing import Any

from aladia_etl.analytics.html import CSS, bar_chart


def render(result: dict[str, Any]) -> str:
    drain = result.get("drain", {})
    labels, values = [], []
    for name, figures in drain.items():
        if figures.get("events_per_s"):
            labels.append(f"{name} drain (events/s)")
            values.append(float(figures["events_per_s"]))
    for name, figures in result.get("drain_default_format", {}).items():
        if figures.get("events_per_s"):
            labels.append(f"{name} drain, schemaless JSON (events/s)")
            values.append(float(figures["events_per_s"]))
    if result.get("native", {}).get("rows_per_s"):
        labels.append("native replication (rows/s)")
        values.append(float(result["native"]["rows_per_s"]))
    fresh_labels, fresh_values = [], []
    for engine, f in result.get("freshness", {}).items():
        if not f.get("valid", True):
            continue  # the generator missed its rate: not a figure
        for p in ("p50_s", "p95_s", "p99_s"):
            fresh_labels.append(f"{engine} {p[:-2]}")
            fresh_values.append(float(f[p]))
    machine = result.get("machine", {})
    return "\n".join(
        [
            f"<!doctype html><html><head><meta charset='utf-8'><title>aladia bench</title><style>{CSS}</style></head>",
            "<body><h1>aladia bench</h1>",
            f"<p class='meta'>{escape(str(machine.get('cores')))} cores, {escape(str(machine.get('memory_gib')))} GiB, "
            f"{escape(str(machine.get('cpu')))}; run started {escape(str(result.get('started_at')))}</p>",
            "<h2>Drain throughput</h2>",
            bar_chart("drain", "Drain throughput", labels, values, horizontal=True),
            "<h2>Freshness (source commit → warehouse row, seconds)</h2>",
            bar_chart("freshness", "Freshness percentiles", fresh_labels, fresh_values, horizontal=True),
            "</body></html>",
        ]
    )
