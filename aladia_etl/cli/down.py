"""`aladia down`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import number, reporter, settings


def register(app: typer.Typer) -> None:
    app.command("down")(down)


def down(
    purge: bool = typer.Option(False, "--purge", help="Also delete the stack's data (databases, topics, logs)."),
    docker: bool = typer.Option(False, "--docker", help="Stop the compose stack instead."),
    timeout: float = typer.Option(
        30, callback=number(0, 3600), help="Seconds to wait for a graceful stop before killing.", metavar="SECONDS"
    ),
) -> None:
    """Stop what `aladia up` started (gracefully, then forcibly after --timeout)."""
    from aladia_etl.cli.render import err

    if docker:
        from aladia_etl.stack.compose import DockerStack

        DockerStack(settings(), reporter()).down(purge)
        err.print("[green]✓[/green] compose stack stopped")
        return
    from aladia_etl.stack.local import LocalStack

    stopped = LocalStack(settings(), reporter()).down(purge=purge, timeout=timeout)
    err.print(f"[green]✓[/green] stopped {', '.join(stopped)}" if stopped else "nothing was running")
