"""`aladia config show`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings
from aladia_etl.cli.options import json_flag

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="config")


@app.command("show")
def show(as_json: bool = json_flag()) -> None:
    """Print the effective settings (environment, .env, defaults) with secrets masked."""
    from aladia_etl.cli.context import state
    from aladia_etl.cli.render import emit_json, out

    data = {**settings().masked(), "log_format": state.log_format}  # read by the command line (--log-format)
    if as_json:
        emit_json(data)
        return
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("environment variable", style="dim")
    table.add_column("value")
    for key, value in _flatten(data):
        env = "ALADIA_" + key.replace(".", "__").upper() if key != "artifacts_dir" else "(derived)"
        table.add_row(key, env, "" if value is None else str(value))
    out.print(table)


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, name + "."))
        else:
            rows.append((name, value))
    return rows
