"""The notebook's cells: a title, a parameters cell, a setup cell that reads the report once through the analytics API
(`analytics.service.build`, the same data as `aladia report`), then one heading and one code cell per section.

Every cell carries its section in `metadata.aladia.section`, so a failed cell is reported by its section's title.
The notebook holds no connection setting: its setup cell reads them from the environment (ALADIA_*, .env), which
`flows.notebook.run` gives the kernel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aladia_etl.core.errors import UsageError

SECTIONS = ("health", "revenue", "customers", "products", "anomalies", "insights")
BENCH_SECTIONS = ("bench_engines", "bench_scalability")
TITLES = {
    "setup": "Setup",
    "health": "Pipeline health and lag",
    "revenue": "Revenue and orders",
    "customers": "Top customers",
    "products": "Top products",
    "anomalies": "Anomalies",
    "insights": "Insights",
    "bench_engines": "Bench: engine comparison",
    "bench_scalability": "Bench: scalability",
}
# The report sections (`analytics.api.SECTIONS`) each notebook section reads.
REPORT_SECTIONS = {
    "health": "realtime",
    "revenue": "summary",
    "customers": "customers",
    "products": "products",
    "anomalies": "anomalies",
    "insights": "insights",
}
INTRO = {
    "health": "The state of every component (the probes of `aladia serve`'s health API), how far the warehouse is "
    "behind the source, and what each engine's streams applied.",
    "revenue": "Orders and revenue (orders not cancelled or refunded) over the whole period, per day.",
    "customers": "The customers who brought the most revenue.",
    "products": "Products by revenue and by units, and revenue per category.",
    "anomalies": "Revenue and orders per minute; anomalous minutes (modified z-score against the 30 minutes "
    "before) are red dots, changes from a flat baseline (no z-score) red rings.",
    "insights": "Findings in plain language, from the numbers above.",
    "bench_engines": "Throughput of every contender draining the same topics, and freshness percentiles (source "
    "commit → warehouse row) at a steady rate.",
    "bench_scalability": "Each engine's drain by topic partitions and where it ran, and the sustained-rate search: "
    "the rates at which lag stayed bounded.",
}


@dataclass(frozen=True)
class NotebookSpec:
    """What the notebook shows. No connection setting: those reach the kernel through its environment."""

    sections: tuple[str, ...] = SECTIONS
    top: int = 10
    minutes: int = 60
    threshold: float = 3.5
    capture: tuple[str, ...] = ()
    bench: Path | None = None  # the bench result (already checked by `bench.load_bench`)
    warehouse: str = ""  # where the data comes from, for the title (host:port/database, no credentials)

    @property
    def all_sections(self) -> tuple[str, ...]:
        return self.sections + (BENCH_SECTIONS if self.bench is not None else ())

    @property
    def report_sections(self) -> tuple[str, ...]:
        wanted = {REPORT_SECTIONS[s] for s in self.sections}
        return tuple(
            name for name in ("summary", "customers", "products", "realtime", "anomalies", "insights") if name in wanted
        )


def parse_sections(names: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The notebook sections asked for, in the notebook's order (all of them when none is named)."""
    if not names:
        return SECTIONS
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise UsageError(f"unknown notebook section(s): {', '.join(unknown)}", f"choose from {', '.join(SECTIONS)}")
    return tuple(s for s in SECTIONS if s in names)


SETUP = '''\
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from aladia_etl.analytics import model, service
from aladia_etl.core.settings import load_settings

logging.getLogger().addHandler(logging.NullHandler())  # library logs stay out: the figures below say it
plt.rcParams.update({"figure.dpi": 100, "text.parse_math": False})  # a '$' in a name is no formula
# The connection settings come from the environment (ALADIA_*, .env), never from this file.
settings = load_settings().with_capture(CAPTURE)
report = service.build(settings, REPORT_SECTIONS, TOP, MINUTES, None, THRESHOLD) if REPORT_SECTIONS else {}
sections = report.get("sections", {})


def show(name, only=None):
    """A report section's tables, as the report model defines them (the tables of 'aladia report')."""
    for table in model.section(name, sections[name]).tables:
        if only is not None and table.name not in only:
            continue
        display(Markdown(f"**{table.title}**" + (f" — {table.note}" if table.note else "")))
        rows = table.shown()
        display(pd.DataFrame([table.cells(r) for r in rows], columns=table.labels) if rows else Markdown("_No rows._"))
'''

CODE = {
    "health": """\
from aladia_etl.core.secrets import mask
from aladia_etl.flows.health import Prober, overall
from aladia_etl.flows.status import pipeline_figures

states = Prober(settings).check()
verdict = overall(states)
unhealthy = f" (unhealthy: {', '.join(verdict['unhealthy'])})" if verdict["unhealthy"] else ""
display(Markdown(f"**Pipeline: {verdict['state']}**{unhealthy}"))
# masked here, whole: the table may shorten a long detail, and a cut URL is no longer recognised as one
components = [{"component": s.component, "state": s.state, "detail": mask(s.detail or "")} for s in states.values()]
display(pd.DataFrame(components))
show("realtime", only={"realtime_freshness"})  # seconds behind the source; records not yet applied (lag)
figures = pipeline_figures(settings)
display(pd.DataFrame(figures) if figures else Markdown("_No batch applied yet._"))
""",
    "revenue": """\
show("summary")
daily = report["daily"]
if daily:
    days = [d["day"] for d in daily]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(days, [float(d["revenue"]) for d in daily], color="#2680c2", label="revenue")
    ax.set_ylabel("revenue")
    orders = ax.twinx()
    orders.plot(days, [d["orders"] for d in daily], color="#d64545", marker="o", label="orders")
    orders.set_ylabel("orders")
    ax.set_title("Revenue and orders per day")
    fig.legend(loc="upper left")
    fig.autofmt_xdate()
    plt.show()
else:
    display(Markdown("_No daily summary yet._"))
""",
    "customers": """\
show("customers")
customers = sections["customers"]
if customers:
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(customers) + 1.5))
    # one bar per customer, by position (bars labelled alike would be drawn as one), labelled with name and id
    labels = [f"{c['name'] or 'customer'} (#{c['customer_id']})" for c in customers][::-1]
    ax.barh(range(len(labels)), [float(c["revenue"]) for c in customers][::-1], color="#2680c2")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("revenue")
    ax.set_title(f"Top {len(customers)} customers by revenue")
    plt.show()
""",
    "products": """\
show("products")
products = sections["products"]
charts = [
    (products["by_revenue"], lambda r: f"{r['name'] or 'product'} (#{r['product_id']})", "Top products by revenue"),
    (products["by_category"], lambda r: str(r["category"]), "Revenue per category"),
]
charts = [(rows, label, title) for rows, label, title in charts if rows]
if charts:
    height = 0.35 * max(len(rows) for rows, _, _ in charts) + 1.5
    fig, axes = plt.subplots(1, len(charts), figsize=(6 * len(charts), height), squeeze=False)
    for ax, (rows, label, title) in zip(axes[0], charts):
        # one bar per row, by position (bars labelled alike would be drawn as one): a product by its name and id
        labels = [label(r) for r in rows][::-1]
        ax.barh(range(len(labels)), [float(r["revenue"]) for r in rows][::-1], color="#2680c2")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("revenue")
        ax.set_title(title)
    fig.tight_layout()
    plt.show()
""",
    "anomalies": """\
anomalies = sections["anomalies"]
series = anomalies["series"]
show("anomalies")
if series:
    minutes = [m["minute"] for m in series]
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    for ax, metric in zip(axes, ("revenue", "orders")):
        values = [float(m[metric]) for m in series]
        flagged = {f["minute"]: f["z"] for f in anomalies["minutes_flagged"] if f["metric"] == metric}
        scored = [i for i, m in enumerate(minutes) if m in flagged and flagged[m] is not None]
        flat = [i for i, m in enumerate(minutes) if m in flagged and flagged[m] is None]
        ax.plot(minutes, values, color="#2680c2", label=f"{metric} per minute")
        if scored:
            ax.scatter([minutes[i] for i in scored], [values[i] for i in scored], color="#d64545", zorder=3,
                       label="anomaly")
        if flat:
            ax.scatter([minutes[i] for i in flat], [values[i] for i in flat], facecolors="none",
                       edgecolors="#d64545", zorder=3, label="change from a flat baseline (no z-score)")
        ax.set_ylabel(metric)
        ax.legend(loc="upper left")
    axes[0].set_title(f"Last {anomalies['minutes']} minutes (threshold {anomalies['threshold']}, UTC)")
    fig.autofmt_xdate()
    plt.show()
""",
    "insights": """\
for line in sections["insights"] or ["No insight: the warehouse has too little data yet."]:
    print("•", line)
""",
}


def _source(text: str) -> str:
    return text.rstrip("\n")


def _parameters(spec: NotebookSpec) -> str:
    lines = [
        "# Parameters ('aladia notebook'). The connection settings are not here: they come from the environment.",
        f"TOP = {spec.top!r}",
        f"MINUTES = {spec.minutes!r}",
        f"THRESHOLD = {spec.threshold!r}",
        f"CAPTURE = {tuple(spec.capture)!r}",
        f"REPORT_SECTIONS = {spec.report_sections!r}",
    ]
    if spec.bench is not None:
        lines.append(f"BENCH_FILE = {str(Path(spec.bench).absolute())!r}")
    return "\n".join(lines)


def cell_plan(spec: NotebookSpec) -> list[tuple[str, str, str]]:
    """The cells in order, as (kind: markdown or code, section, source)."""
    from aladia_etl import __version__
    from aladia_etl.flows.notebook.bench import CODE as BENCH_CODE

    title = "# aladia — warehouse notebook\n\n"
    where = f"the warehouse `{spec.warehouse}`" if spec.warehouse else "the warehouse"
    title += f"Sales, pipeline health and anomalies from {where}, written by `aladia notebook` (aladia {__version__})."
    if spec.bench is not None:
        title += f" Bench figures from `{Path(spec.bench).name}`."
    plan = [("markdown", "setup", title), ("code", "setup", _parameters(spec)), ("code", "setup", _source(SETUP))]
    for name in spec.all_sections:
        code = BENCH_CODE[name] if name in BENCH_SECTIONS else CODE[name]
        plan.append(("markdown", name, f"## {TITLES[name]}\n\n{INTRO[name]}"))
        plan.append(("code", name, _source(code)))
    return plan


def build_notebook(spec: NotebookSpec, generated_at: datetime | None = None) -> Any:
    """The notebook (an nbformat v4 node), not executed."""
    import nbformat.v4 as v4

    cells = []
    for kind, section, source in cell_plan(spec):
        cell = v4.new_markdown_cell(source) if kind == "markdown" else v4.new_code_cell(source)
        cell.metadata["aladia"] = {"section": section}
        if kind == "code" and source.startswith("# Parameters"):
            cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["aladia"] = {
        "sections": list(spec.all_sections),
        "generated_at": generated_at.isoformat() if generated_at else None,
    }
    return nb


def section_of(cell: Any) -> str:
    """The title of the section a cell belongs to."""
    name = (cell.get("metadata") or {}).get("aladia", {}).get("section", "")
    return TITLES.get(name, name or "unknown")
