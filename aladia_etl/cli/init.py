"""`aladia init`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import compiled, reporter, settings, source_catalog, state
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    customers: int = typer.Option(200, min=0, help="Customers to seed.", metavar="COUNT"),
    products: int = typer.Option(50, min=1, help="Products to seed.", metavar="COUNT"),
    orders: int = typer.Option(1000, min=0, help="Orders to seed (each with 1-4 items).", metavar="COUNT"),
    days: int = typer.Option(30, min=1, help="Spread seeded orders over this many past days.", metavar="DAYS"),
    seed: int = typer.Option(42, help="RNG seed: the same seed and sizes give the same rows.", metavar="INTEGER"),
    no_seed: bool = typer.Option(False, "--no-seed", help="Create the schema only."),
    reset: bool = typer.Option(False, "--reset", help="Drop the source tables and publication first."),
    fix: bool = typer.Option(False, "--fix", help="On the local stack, set wal_level=logical and restart."),
    as_json: bool = json_flag(),
) -> None:
    """Create the source schema and publication (idempotent) and seed deterministic sample data."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.core.pipeline import locate
    from aladia_etl.source.bootstrap import bootstrap
    from aladia_etl.source.seed import SeedSpec

    spec = SeedSpec(customers=customers, products=products, orders=orders, days=days, rng_seed=seed)
    if locate(state.pipeline_option, settings().pipeline) is None:
        result = bootstrap(settings(), spec, reset=reset, fix=fix, with_seed=not no_seed, reporter=reporter())
    else:
        result = _init_pipeline(spec, reset, fix, no_seed)
    for warning in result.warnings:
        err.print(f"[yellow]![/yellow] {warning}", highlight=False)
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


def _init_pipeline(spec, reset: bool, fix: bool, no_seed: bool):
    """A pipeline file: its tables checked against the source (one line and exit 3 for a problem, nothing created),
    then the demo source only when the file uses the built-in orders model, and the publication of exactly the
    captured tables."""
    from aladia_etl.source.bootstrap import bootstrap, capture

    pipeline = compiled()
    captured = pipeline.captured
    if pipeline.pipeline.spec.uses_builtin_orders:
        demo = {f"public.{t}" for t in ("customers", "products", "orders", "order_items")}
        extra = tuple(t for t in captured if t not in demo)
        return bootstrap(
            settings(), spec, reset=reset, fix=fix, with_seed=not no_seed, reporter=reporter(), extra=extra
        )
    catalog = source_catalog(settings())
    identities = {t: catalog[t].replica_identity for t in captured if t in catalog}
    return capture(settings(), captured, identities, fix, reporter())
