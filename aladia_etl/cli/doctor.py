"""`aladia doctor`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    with_browser: bool = typer.Option(
        False, "--browser", help="Also check Chromium and chromedriver (the dashboard's browser test)."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Check what 'aladia up' and the engines need — Python, Java, the PostgreSQL server binaries, Maven and its
    repository, free ports, disk space, Beam's runner — before anything starts: one line per check, with the fix.
    Exit 0 when all pass, 6 when something is missing, 5 when a port is taken.

    Example: aladia doctor && aladia demo"""
    from aladia_etl.cli.render import emit_json
    from aladia_etl.flows import doctor as checks

    found = checks.run(settings(), with_browser=with_browser)
    code = checks.exit_code(found)
    if as_json:
        emit_json({"ok": code == 0, "exit_code": code, "checks": [check.as_dict() for check in found]})
    else:
        from rich.markup import escape

        from aladia_etl.cli.render import out

        for check in found:
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            text = check.detail if check.ok else f"{check.detail} — {check.fix}"
            out.print(f"{mark} {check.name:<12} {escape(text)}")
    if code:
        raise typer.Exit(code)
