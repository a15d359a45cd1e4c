"""`aladia migrate`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)


def migrate(as_json: bool = json_flag()) -> None:
    """Bring the warehouse schema to the current version (`aladia stream` also does it before it starts)."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.warehouse import loader
    from aladia_etl.warehouse.migrations import LATEST, current_version
    from aladia_etl.warehouse.migrations import migrate as run_migrations

    with loader.connect(settings()) as conn:
        before = current_version(conn)
        applied = run_migrations(conn)
    if as_json:
        emit_json({"from": before, "to": LATEST, "applied": [{"version": m.version, "name": m.name} for m in applied]})
    elif applied:
        names = ", ".join(f"{m.version} {m.name}" for m in applied)
        err.print(f"[green]✓[/green] warehouse schema {before} → {LATEST}: applied {names}")
    else:
        err.print(f"[green]✓[/green] warehouse schema already at version {LATEST}")
