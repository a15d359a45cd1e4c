"""`aladia init` and `aladia simulate`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import reporter, settings


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("simulate")(simulate)


def init(
    customers: int = typer.Option(200, min=0, help="Customers to seed."),
    products: int = typer.Option(50, min=1, help="Products to seed."),
    orders: int = typer.Option(1000, min=0, help="Orders to seed (each with 1-4 items)."),
    days: int = typer.Option(30, min=1, help="Spread seeded orders over this many past days."),
    seed: int = typer.Option(42, help="RNG seed: the same seed and sizes give the same rows."),
    no_seed: bool = typer.Option(False, "--no-seed", help="Create the schema only."),
    reset: bool = typer.Option(False, "--reset", help="Drop the source tables and publication first."),
    fix: bool = typer.Option(False, "--fix", help="On the local stack, set wal_level=logical and restart."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create the source schema and publication (idempotent) and seed deterministic sample data."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.source.bootstrap import bootstrap
    from aladia_etl.source.seed import SeedSpec

    spec = SeedSpec(customers=customers, products=products, orders=orders, days=days, rng_seed=seed)
    result = bootstrap(settings(), spec, reset=reset, fix=fix, with_seed=not no_seed, reporter=reporter())
    if as_json:
        emit_json(result.as_dict())
        return
    if not result.changed:
        err.print("[green]✓[/green] source database already initialised; nothing changed")
        return
    if result.created:
        err.print(f"[green]✓[/green] created: {', '.join(result.created)}")
    if result.seeded:
        err.print("[green]✓[/green] seeded " + ", ".join(f"{n} {t}" for t, n in result.seeded.items()))


def simulate(
    rate: float = typer.Option(None, "--rate", help="Target change events per second (default: as fast as possible)."),
    duration: float = typer.Option(None, "--duration", help="Run for this many seconds."),
    events: int = typer.Option(None, "--events", min=1, help="Make exactly this many row changes."),
    mix: str = typer.Option("insert=5,update=4,delete=1", "--mix", help="Weights of inserts, updates, deletes."),
    seed: int = typer.Option(None, "--seed", help="RNG seed for a reproducible sequence of operations."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Run a realistic order workload on the source: orders with items, status changes, corrections, deletes."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.errors import UsageError
    from aladia_etl.source.bootstrap import connect
    from aladia_etl.source.simulator import Mix, Simulator

    if (duration is None) == (events is None):
        raise UsageError("give exactly one of --duration and --events", "e.g. aladia simulate --rate 200 --duration 10")
    parsed = Mix.parse(mix)
    with connect(settings()) as conn:
        sim = Simulator(conn, parsed, seed)
        sim.load()
        total = events if events is not None else duration
        with reporter().task("simulating", total=total) as task:

            def progress(stats) -> None:
                done = stats.total if events is not None else stats.elapsed_s
                task.update(completed=done, description=f"simulating: {stats.total} changes, {stats.rate:,.0f}/s")

            stats = sim.run(rate=rate, duration=duration, events=events, on_progress=progress)
    if as_json:
        emit_json(stats.as_dict())
    else:
        note = " (stopped by Ctrl-C)" if stats.interrupted else ""
        err.print(
            f"[green]✓[/green] {stats.total} changes in {stats.transactions} transactions, "
            f"{stats.elapsed_s:.1f} s, {stats.rate:,.0f} changes/s{note}"
        )
        for table, ops in stats.by_table().items():
            err.print(f"  {table}: " + ", ".join(f"{op}={n}" for op, n in ops.items()))
    if stats.interrupted:
        raise typer.Exit(130)
