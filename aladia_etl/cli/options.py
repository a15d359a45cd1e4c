"""Options that several commands take, declared once: one placeholder, one help text, one set of limits."""

from __future__ import annotations

from typing import Any

import typer

from aladia_etl.cli.context import number


def json_flag(what: str = "the result", help: str | None = None) -> Any:
    """`--json`: the command's output as JSON on stdout (nothing else is printed there)."""
    return typer.Option(False, "--json", help=help or f"Print {what} as JSON.")


def top_option() -> Any:
    return typer.Option(10, "--top", min=1, max=10_000, metavar="COUNT", help="How many customers and products.")


def minutes_option(what: str) -> Any:
    return typer.Option(
        60, "--minutes", min=1, max=10_080, metavar="MINUTES", help=f"Window of {what} (at most a week)."
    )


def threshold_option() -> Any:
    return typer.Option(
        3.5,
        "--threshold",
        callback=number(0, 1e6, above=True),
        metavar="Z",
        help="Modified z-score above which a minute or an order is anomalous.",
    )
