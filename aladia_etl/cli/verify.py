"""`aladia verify`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import compiled, settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(
    table: list[str] = typer.Option(
        [], "--table", metavar="TABLE", help="Only this table (its name, source schema.table or warehouse table)."
    ),
    rebuild_summary: bool = typer.Option(
        False,
        "--rebuild-summary",
        help="Rebuild the daily summary from the warehouse's facts first (streams move it by differences: a row "
        "edited by hand or restored apart from its facts stays wrong until rebuilt).",
    ),
    as_json: bool = json_flag(),
) -> None:
    """Reconcile the warehouse with the source: rows, keys, every value, daily summaries. Exit 8 on a difference."""
    from aladia_etl.cli.render import emit_json
    from aladia_etl.core.errors import ExitCode
    from aladia_etl.warehouse.verify import verify as do_verify

    pipeline = compiled()
    sinks = pipeline.sinks
    if table:
        chosen = [s for s in sinks if {s.name, s.source, s.target, s.target_table} & set(table)]
        unknown = [t for t in table if not any(t in (s.name, s.source, s.target, s.target_table) for s in sinks)]
        if unknown:
            from aladia_etl.core.errors import UsageError

            raise UsageError(
                f"--table: {unknown[0]!r} is not a table of the pipeline",
                f"choose from: {', '.join(s.name for s in sinks)}",
            )
        sinks = tuple(chosen)
    if pipeline.pipeline.path is not None:
        # the mirrors as the stream keeps them: columns dropped in the source stay in the warehouse (not compared),
        # columns the warehouse does not hold yet are not compared either
        from aladia_etl.warehouse import evolution, loader

        with loader.connect(settings()) as conn:
            sinks = evolution.plan(conn, sinks, {"add_column": "ignore", "drop_column": "ignore"}).sinks
    if rebuild_summary:
        from aladia_etl.cli.render import err
        from aladia_etl.warehouse import loader

        with loader.connect(settings()) as conn:
            days = loader.rebuild_summary(conn)
        err.print(f"[green]✓[/green] daily summary rebuilt from the facts: {days} days")
    report = do_verify(settings(), sinks)
    if as_json:
        emit_json(report.as_dict())
    else:
        from aladia_etl.cli.views.verify import print_verify

        print_verify(report)
    if not report.ok:
        raise typer.Exit(int(ExitCode.VERIFY_FAILED))
