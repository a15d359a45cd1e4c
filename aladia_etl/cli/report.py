"""`aladia report`."""

from __future__ import annotations

from pathlib import Path

import typer

from aladia_etl.cli.context import compiled, settings
from aladia_etl.cli.options import minutes_option, threshold_option, top_option


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    sections: list[str] = typer.Argument(
        None, help="summary, customers, products, realtime, anomalies, insights (default: all).", metavar="SECTION..."
    ),
    fmt: str = typer.Option("table", "--format", help="table, json, csv or html.", metavar="table|json|csv|html"),
    out: Path = typer.Option(None, "--out", help="Output file (json, html) or directory (csv).", metavar="PATH"),
    top: int = top_option(),
    minutes: int = minutes_option("the realtime and anomaly sections"),
    since: str = typer.Option(None, "--since", help="Only orders from this day on (YYYY-MM-DD).", metavar="YYYY-MM-DD"),
    threshold: float = threshold_option(),
) -> None:
    """Business report over the warehouse: summary, top customers, products, realtime, anomalies, insights."""
    from aladia_etl.analytics import service
    from aladia_etl.cli.render import err
    from aladia_etl.core.errors import UsageError

    fmt = fmt.strip().lower()
    if fmt not in service.FORMATS:
        raise UsageError(f"--format: '{fmt}' is not a format", f"choose from {', '.join(service.FORMATS)}")
    chosen = service.parse_sections(sections or [])
    pipeline = compiled()
    if not any(s.summary == "daily_sales" for s in pipeline.sinks):
        _tables_only(pipeline)
        return
    if out is not None and fmt != "table":  # before any work: a path that cannot be written is a usage error
        from aladia_etl.core.files import check_writable

        target = out / "aladia-report.html" if fmt == "html" and out.is_dir() else out
        check_writable(target, "--out", directory=fmt == "csv")
    data = service.build(settings(), chosen, top, minutes, service.parse_since(since), threshold)
    if fmt == "table":
        from aladia_etl.cli.views.report import print_report

        print_report(data)
    elif fmt == "json":
        result = service.write_json(data, out)
        if isinstance(result, str):
            print(result)
        else:
            err.print(f"[green]✓[/green] wrote {result}")
    elif fmt == "csv":
        files = service.write_csv(data, out)
        if isinstance(files, str):
            print(files, end="")
        else:
            err.print(f"[green]✓[/green] wrote {len(files)} CSV files to {out}")
    else:
        path = service.write_html(data, out)
        err.print(f"[green]✓[/green] wrote {path}")


def _tables_only(pipeline) -> None:
    """A pipeline without the orders model: the business sections need it; what each table received is shown."""
    from aladia_etl.cli.render import err, out
    from aladia_etl.flows.status import table_figures

    err.print(
        f"note: the business sections (summary, customers, products, realtime, anomalies, insights) need the orders "
        f"model, which {pipeline.pipeline.label} does not use; 'aladia verify' and 'aladia status' cover its tables",
        markup=False,
    )
    figures: dict[str, list[str]] = {}
    for f in table_figures(settings()):
        figures.setdefault(f["table"], []).append(f"{f['rows']:,} by {f['engine']}/{f['stream']}")
    for sink in pipeline.sinks:
        applied = "; ".join(figures.get(sink.name, [])) or "nothing yet"
        out.print(f"{sink.target} (from {sink.source}): rows applied {applied}", markup=False)
