"""`aladia notebook`."""

from __future__ import annotations

from pathlib import Path

import typer

from aladia_etl.cli.context import compiled, reporter, settings
from aladia_etl.cli.options import minutes_option, threshold_option, top_option


def register(app: typer.Typer) -> None:
    app.command("notebook")(notebook)


def notebook(
    out: Path = typer.Option(
        None,
        "--out",
        metavar="PATH",
        help="The .ipynb file, or a directory to write aladia-notebook.ipynb in (default: ./aladia-notebook.ipynb); "
        "an existing file is replaced only when it is a notebook 'aladia notebook' wrote.",
    ),
    bench: Path = typer.Option(
        None,
        "--bench",
        metavar="FILE",
        help="Add the engine comparison and scalability figures of this 'aladia bench --out FILE' result.",
    ),
    top: int = top_option(),
    minutes: int = minutes_option("the per-minute and anomaly charts"),
    threshold: float = threshold_option(),
    timeout: int = typer.Option(
        600,
        "--timeout",
        min=1,
        max=86_400,
        metavar="SECONDS",
        help="Stop when a section runs longer than this (its notebook as far as it ran is saved).",
    ),
) -> None:
    r"""Write a Jupyter notebook over the warehouse and execute it headless, plots included: pipeline health and
    lag, revenue and orders, top customers and products, anomalies on the per-minute chart, and with --bench the
    bench's engine comparison and scalability; open it in Jupyter or VS Code. It runs in a kernel of this Python
    (install the extra: pip install 'aladia-etl\[notebook]'), which reads the connection settings from its
    environment: the file holds no password. When a cell fails or runs longer than --timeout, nothing is written to
    PATH: the notebook as far as it ran, with the error, is saved beside it as NAME.failed.ipynb (removed by the next
    run that succeeds), and the command exits non-zero naming the section.

    Example: aladia notebook --out reports/ --bench docs/bench-2026-11-26.json"""
    from aladia_etl.cli.render import err
    from aladia_etl.core.errors import ConfigError
    from aladia_etl.flows.notebook.bench import load_bench
    from aladia_etl.flows.notebook.files import check_target
    from aladia_etl.flows.notebook.run import build_and_run

    if bench is not None:
        load_bench(bench)  # before anything runs: a missing or malformed file is a usage error
    check_target(out, bench)  # no notebook file, or a file aladia did not write: a usage error, nothing replaced
    pipeline = compiled()
    if not any(s.summary == "daily_sales" for s in pipeline.sinks):
        raise ConfigError(
            f"the notebook's sections need the orders model, which {pipeline.pipeline.label} does not use",
            "'aladia status' and 'aladia verify' cover its tables",
        )
    result = build_and_run(
        settings(), out, bench, top=top, minutes=minutes, threshold=threshold, timeout=timeout, reporter=reporter()
    )
    from rich.markup import escape

    err.print(f"[green]✓[/green] wrote {escape(str(result.path))} ({result.cells} cells run, {result.images} plots)")
