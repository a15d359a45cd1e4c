"""`aladia status`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import reporter, settings


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Health of every component; exits non-zero when something is unhealthy."""
    from aladia_etl.cli.render import emit_json
    from aladia_etl.core.errors import ExitCode
    from aladia_etl.flows.status import collect_status

    report = collect_status(settings(), reporter())  # notes (a stale pid file) go to stderr
    if as_json:
        emit_json(report)
    else:
        from aladia_etl.cli.views.health import print_status

        print_status(report)
    if not report["healthy"]:
        raise typer.Exit(int(ExitCode.UNHEALTHY))
