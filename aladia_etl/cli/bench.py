"""`aladia bench`."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer

from aladia_etl.cli.context import duration, number, reporter, settings


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def _list(text: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in text.split(",") if p.strip())


def _pipeline_file():
    """`--pipeline FILE` (or ALADIA_PIPELINE): the bench also drains that pipeline (checked before anything runs)."""
    from aladia_etl.cli.context import state
    from aladia_etl.core.pipeline import load

    path = state.pipeline_option or settings().pipeline
    if path is not None:
        load(path)  # the file's own errors, one line, before the bench prepares anything
    return path


def bench(
    engines: str = typer.Option("spark,beam", "--engines", help="Engines to measure.", metavar="spark,beam"),
    peers: str = typer.Option(
        "jdbc,native",
        "--peers",
        help="Peers: jdbc (Debezium JDBC sink), native (logical replication); '' for none.",
        metavar="jdbc,native",
    ),
    events: int = typer.Option(
        100_000,
        "--events",
        min=100,
        max=100_000_000,
        help="Changes to fill the topics with for the drain.",
        metavar="COUNT",
    ),
    rate: float = typer.Option(
        1000,
        "--rate",
        callback=number(0, 1e7, above=True),
        help="Changes per second during the freshness phase.",
        metavar="CHANGES/S",
    ),
    duration: float = typer.Option(
        30,
        "--duration",
        callback=number(0, 86_400, above=True),
        help="Seconds of the freshness phase.",
        metavar="SECONDS",
    ),
    trigger_interval: str = typer.Option(
        None,
        "--trigger-interval",
        metavar="DURATION",
        callback=duration("--trigger-interval"),
        help="Engines' batch or pane interval, e.g. 500ms or 1s (default: each engine's own).",
    ),
    sustained_seconds: float = typer.Option(
        60,
        "--sustained-seconds",
        callback=number(0, 86_400),
        help="Seconds per sustained-rate step (0: skip the search).",
        metavar="SECONDS",
    ),
    sustained_rates: str = typer.Option(
        "1000,2000,4000,6000,8000,10000,12000",
        "--sustained-rates",
        help="Rates to step through (changes/s).",
        metavar="RATE,...",
    ),
    workers: int = typer.Option(
        4, "--workers", min=1, max=64, help="The workload generator's connections.", metavar="COUNT"
    ),
    txn_size: int = typer.Option(
        10, "--txn-size", min=1, max=1000, help="Changes per generated transaction.", metavar="CHANGES"
    ),
    matrix: bool = typer.Option(
        True,
        "--matrix/--no-matrix",
        help="Also drain four-partition topics, and Spark on a cluster of 1 and 2 workers.",
    ),
    out: Path = typer.Option(None, "--out", help="Write every figure as JSON to this file.", metavar="PATH"),
    chart: Path = typer.Option(None, "--chart", help="Write a chart (HTML with SVG) to this file.", metavar="PATH"),
    keep: bool = typer.Option(False, "--keep", help="Keep the bench databases, topics and connector."),
) -> None:
    """Throughput and freshness of both engines against the Debezium JDBC sink and native logical replication."""
    from aladia_etl.analytics.export import plain
    from aladia_etl.cli.render import err
    from aladia_etl.core.errors import UsageError
    from aladia_etl.core.files import atomic_write
    from aladia_etl.flows.bench.run import Bench, BenchOptions

    try:
        steps = tuple(float(r) for r in _list(sustained_rates))
    except ValueError:
        raise UsageError(
            f"--sustained-rates: '{sustained_rates}' is not a list of numbers", "e.g. --sustained-rates 500,1000,2000"
        ) from None
    from aladia_etl.core.files import check_writable

    for path, option in ((out, "--out"), (chart, "--chart")):
        if path is not None:
            check_writable(path, option)
    options = BenchOptions(
        engines=_list(engines),
        peers=_list(peers),
        events=events,
        rate=rate,
        duration=duration,
        trigger_interval=cast("float | None", trigger_interval),  # seconds: what the duration callback returns
        sustained_seconds=sustained_seconds,
        sustained_rates=steps,
        workers=workers,
        txn_size=txn_size,
        matrix=matrix,
        keep=keep,
        pipeline=_pipeline_file(),
    )
    result = Bench(settings(), options, reporter()).run()
    import json

    from aladia_etl.flows.bench.chart import render

    if out:
        atomic_write(out.absolute(), json.dumps(plain(result), indent=2) + "\n")
        err.print(f"[green]✓[/green] wrote {out}")
    if chart:
        atomic_write(chart.absolute(), render(result))
        err.print(f"[green]✓[/green] wrote {chart}")
    from aladia_etl.cli.views.bench import print_bench

    print_bench(result)
