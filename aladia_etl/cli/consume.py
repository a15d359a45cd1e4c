"""`aladia consume`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import number, settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("consume")(consume)


def consume(
    topic: str = typer.Argument(..., help="Topic to read.", metavar="TOPIC"),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the earliest offset."),
    max_messages: int = typer.Option(None, "--max", min=1, help="Stop after this many records.", metavar="COUNT"),
    timeout: float = typer.Option(
        5.0,
        "--timeout",
        callback=number(0, 86_400, above=True),
        help="Stop after this many seconds without a record.",
        metavar="SECONDS",
    ),
    as_json: bool = json_flag(help="One JSON object per line."),
) -> None:
    """Print records; Debezium envelopes are shown as op, table, LSN, commit time, before/after; tombstones too."""
    import json

    from aladia_etl.bus.envelope import describe
    from aladia_etl.bus.io import consume as do_consume
    from aladia_etl.cli.render import out

    for summary in do_consume(settings(), topic, from_beginning, max_messages, timeout):
        if as_json:
            print(json.dumps(summary, default=str), flush=True)
        else:
            out.print(describe(summary), markup=False)
