"""`aladia up`, `aladia down`, `aladia status`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import reporter, settings


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)


def up(
    docker: bool = typer.Option(False, "--docker", help="Use compose/docker-compose.yml instead of local processes."),
    timeout: float = typer.Option(180, help="Seconds to wait for each component to serve."),
) -> None:
    """Start PostgreSQL, Kafka (KRaft) and Kafka Connect with Debezium; idempotent."""
    from aladia_etl.cli.render import err

    rep = reporter()
    if docker:
        from aladia_etl.stack.compose import DockerStack

        DockerStack(settings(), rep).up(timeout)
        err.print("[green]✓[/green] compose stack is up")
        return
    from aladia_etl.stack.local import LocalStack

    result = LocalStack(settings(), rep).up(timeout=timeout)
    if not result.started:
        err.print("[green]✓[/green] the local stack is already running and healthy")
    else:
        err.print(f"[green]✓[/green] started {', '.join(result.started)}; the local stack is healthy")
    _render_health(result.health)


def down(
    purge: bool = typer.Option(False, "--purge", help="Also delete the stack's data (databases, topics, logs)."),
    docker: bool = typer.Option(False, "--docker", help="Stop the compose stack instead."),
    timeout: float = typer.Option(30, help="Seconds to wait for a graceful stop before killing."),
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


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Health of every component; exits non-zero when something is unhealthy."""
    from aladia_etl.cli.render import emit_json
    from aladia_etl.errors import ExitCode
    from aladia_etl.health.service import collect_status

    report = collect_status(settings())
    if as_json:
        emit_json(report)
    else:
        _render_health(report["components"], report.get("cdc"))
    if not report["healthy"]:
        raise typer.Exit(int(ExitCode.UNHEALTHY))


def _render_health(components, cdc=None) -> None:
    from rich.table import Table

    from aladia_etl.cli.render import out

    table = Table(show_header=True, header_style="bold")
    for col in ("component", "state", "pid", "address", "version", "detail"):
        table.add_column(col)
    for h in components:
        h = h if isinstance(h, dict) else h.as_dict()
        state = "[green]healthy[/green]" if h["healthy"] else "[red]unhealthy[/red]"
        table.add_row(h["name"], state, str(h["pid"] or "-"), h["address"], h["version"] or "-", h["detail"])
    out.print(table)
    if not cdc:
        return
    slot = cdc.get("slot")
    if slot:
        if slot.get("present"):
            active = "active" if slot["active"] else "inactive"
            out.print(f"replication slot {slot['slot']}: {active}, retains {slot['retained_wal_bytes']:,} bytes of WAL")
        else:
            out.print(f"replication slot {slot['slot']}: not created yet (register the connector)")
    if "connector" in cdc:
        conn = cdc["connector"]
        if conn is None:
            out.print("connector: not registered ('aladia cdc register')")
        else:
            out.print(f"connector {conn['name']}: {conn['state']} (tasks: {', '.join(conn['tasks']) or 'none'})")
