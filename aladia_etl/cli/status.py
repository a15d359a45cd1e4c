"""`aladia status`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import pipeline_if_possible, reporter, settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(as_json: bool = json_flag()) -> None:
    """Health of every component; exits non-zero when something is unhealthy."""
    from aladia_etl.cli.render import emit_json
    from aladia_etl.core.errors import ExitCode
    from aladia_etl.flows.status import collect_status

    notes = reporter()
    pipeline_if_possible(notes)  # the pipeline file's topics (lag, cleanup policy), when its tables can be resolved
    report = collect_status(settings(), notes)  # notes (a stale pid file) go to stderr
    if as_json:
        emit_json(report)
    else:
        from aladia_etl.cli.views.health import print_status

        print_status(report)
    if not report["healthy"]:
        raise typer.Exit(int(ExitCode.UNHEALTHY))
