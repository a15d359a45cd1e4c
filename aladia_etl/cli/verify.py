"""`aladia verify`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Reconcile the warehouse with the source: rows, keys, values, daily summaries. Non-zero exit on a difference."""
    from aladia_etl.cli.render import emit_json
    from aladia_etl.core.errors import ExitCode
    from aladia_etl.warehouse.verify import verify as do_verify

    report = do_verify(settings())
    if as_json:
        emit_json(report.as_dict())
    else:
        from aladia_etl.cli.views.verify import print_verify

        print_verify(report)
    if not report.ok:
        raise typer.Exit(int(ExitCode.VERIFY_FAILED))
