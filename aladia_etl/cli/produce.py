"""`aladia produce`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("produce")(produce)


def produce(
    topic: str = typer.Argument(..., help="Topic to write to.", metavar="TOPIC"),
    count: int = typer.Option(10, "--count", min=1, help="How many sample messages.", metavar="COUNT"),
    as_json: bool = json_flag(),
) -> None:
    """Produce sample JSON messages."""
    from aladia_etl.bus.io import produce_samples
    from aladia_etl.cli.render import emit_json, err

    result = produce_samples(settings(), topic, count)
    if as_json:
        emit_json(result)
    else:
        err.print(
            f"[green]✓[/green] produced {count} messages to {topic} "
            f"(offsets {result['first_offset']}–{result['last_offset']})"
        )
