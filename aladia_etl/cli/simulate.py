"""`aladia simulate`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import number, reporter, settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


def simulate(
    rate: float = typer.Option(
        None,
        "--rate",
        callback=number(0, 1e7, above=True),
        help="Target change events per second (default: as fast as possible).",
        metavar="CHANGES/S",
    ),
    duration: float = typer.Option(
        None, "--duration", callback=number(0, 1e7, above=True), help="Run for this many seconds.", metavar="SECONDS"
    ),
    events: int = typer.Option(
        None, "--events", min=1, max=10**9, help="Make exactly this many row changes.", metavar="COUNT"
    ),
    mix: str = typer.Option(
        "insert=5,update=4,delete=1",
        "--mix",
        help="Weights of inserts, updates, deletes.",
        metavar="insert=W,update=W,delete=W",
    ),
    seed: int = typer.Option(
        None,
        "--seed",
        help="RNG seed for a reproducible sequence of operations (worker i uses seed + i).",
        metavar="INTEGER",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Concurrent connections, each writing its own share of the customers and their orders.",
        metavar="COUNT",
    ),
    txn_size: int = typer.Option(
        1,
        "--txn-size",
        min=1,
        max=1000,
        help="Changes per transaction: operations are grouped until a transaction has about this many.",
        metavar="CHANGES",
    ),
    as_json: bool = json_flag("the counts"),
) -> None:
    """Run a realistic order workload on the source: orders with items, status changes, corrections, deletes.

    --rate is the combined rate of all workers; --events is exact in total.
    """
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.core.errors import UsageError
    from aladia_etl.source.simulator import Mix
    from aladia_etl.source.workload import simulate as run_workload

    if (duration is None) == (events is None):
        raise UsageError("give exactly one of --duration and --events", "e.g. aladia simulate --rate 200 --duration 10")
    parsed = Mix.parse(mix)
    total = events if events is not None else duration
    with reporter().task("simulating", total=total) as task:

        def progress(stats) -> None:
            done = stats.total if events is not None else stats.elapsed_s
            task.update(completed=done, description=f"simulating: {stats.total} changes, {stats.rate:,.0f}/s")

        stats = run_workload(
            settings(),
            rate=rate,
            duration=duration,
            events=events,
            mix=parsed,
            seed=seed,
            on_progress=progress,
            workers=workers,
            txn_size=txn_size,
        )
    if as_json:
        emit_json(stats.as_dict())
    else:
        note = " (stopped by Ctrl-C)" if stats.interrupted else ""
        shape = f" by {stats.workers} workers" if stats.workers > 1 else ""
        retried = f", {stats.retries} retried" if stats.retries else ""
        err.print(
            f"[green]✓[/green] {stats.total} changes in {stats.transactions} transactions{shape}{retried}, "
            f"{stats.elapsed_s:.1f} s, {stats.rate:,.0f} changes/s{note}"
        )
        for table, ops in stats.by_table().items():
            err.print(f"  {table}: " + ", ".join(f"{op}={n}" for op, n in ops.items()))
    if stats.interrupted:
        raise typer.Exit(130)
