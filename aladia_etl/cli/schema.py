"""`aladia schema …`: the schema changes of mirrored tables that streams met."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings
from aladia_etl.cli.options import json_flag

app = typer.Typer(help="Schema changes of mirrored source tables.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="schema")


@app.command("history")
def history(
    table: list[str] = typer.Option(
        [], "--table", metavar="SCHEMA.TABLE", help="Only the changes of this source table (repeatable)."
    ),
    limit: int = typer.Option(1000, "--limit", min=1, max=100_000, help="The newest this many.", metavar="COUNT"),
    as_json: bool = json_flag("the changes"),
) -> None:
    """Every column added, dropped or changed in type that a stream met, with what the policy did (oldest first).

    Example: aladia schema history --table shop.items
    """
    from aladia_etl.cli.render import emit_json, out
    from aladia_etl.cli.views.stream import schema_change_line
    from aladia_etl.warehouse import loader, schema_history
    from aladia_etl.warehouse.schema import ensure_schema

    with loader.connect(settings()) as conn:
        ensure_schema(conn)
        rows = schema_history.read(conn, table or None, limit)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    if not rows:
        out.print("no schema changes" + (f" of {', '.join(table)}" if table else ""))
        return
    for r in rows:
        out.print(f"{r.at[:19]} {r.engine}/{r.stream}: {schema_change_line(r.as_dict())}", markup=False)
