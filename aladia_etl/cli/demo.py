"""`aladia demo`: the whole pipeline in one command."""

from __future__ import annotations

from pathlib import Path

import typer

from aladia_etl.cli.context import number, reporter, settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    engine: str = typer.Option("spark", "--engine", help="spark or beam.", metavar="spark|beam"),
    duration: float = typer.Option(
        30,
        "--duration",
        callback=number(0, 86_400, above=True),
        help="Seconds of simulated workload while streaming.",
        metavar="SECONDS",
    ),
    rate: float = typer.Option(
        200, "--rate", callback=number(0, 1e6, above=True), help="Simulated changes per second.", metavar="CHANGES/S"
    ),
    html: Path = typer.Option(
        None, "--html", help="Where to write the HTML report (default: in the data dir).", metavar="PATH"
    ),
    as_json: bool = json_flag(help="Print the figures of every step as JSON at the end."),
) -> None:
    """up → init → cdc register → simulate while streaming → stream until idle → verify → report."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.cli.views.report import print_report
    from aladia_etl.cli.views.stream import StreamView
    from aladia_etl.flows.demo import STEPS, DemoOptions, run_demo
    from aladia_etl.processing.model import check_engine

    engine = check_engine(engine)

    def on_step(i: int, name: str) -> None:
        err.print(f"[bold cyan]step {i + 1}/{len(STEPS)}[/bold cyan] {name}")

    with StreamView(err, engine, quiet=True) as view:
        result = run_demo(
            settings(),
            DemoOptions(engine=engine, duration=duration, rate=rate, html=html),
            reporter(),
            on_step=on_step,
            on_stream_progress=view.update,
        )
    if as_json:
        from aladia_etl.analytics.export import plain

        emit_json(
            plain(
                {
                    "simulated": result.simulated,
                    "stream": result.stream,
                    "verify": result.verify,
                    "html": str(result.html),
                }
            )
        )
    else:
        sim, st = result.simulated, result.stream
        err.print(
            f"[green]✓[/green] simulated {sim.get('changes', 0):,} changes at {sim.get('rate', 0):,.0f}/s; "
            f"{engine} applied {st['batches']} batches ({st['records']:,} records); lag {st['lag']}"
        )
        err.print("[green]✓[/green] verify: the warehouse equals the source")
        print_report(result.report)
    err.print(f"[green]✓[/green] HTML report: {result.html}")
    err.print("The stack is still running: 'aladia status' to look at it, 'aladia down' to stop it.")
