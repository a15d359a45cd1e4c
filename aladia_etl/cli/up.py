"""`aladia up`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import number, reporter, settings


def register(app: typer.Typer) -> None:
    app.command("up")(up)


def up(
    docker: bool = typer.Option(False, "--docker", help="Use compose/docker-compose.yml instead of local processes."),
    timeout: float = typer.Option(
        180,
        callback=number(0, 3600, above=True),
        help="Seconds to wait for each component to serve.",
        metavar="SECONDS",
    ),
    secure: bool = typer.Option(
        False,
        "--secure",
        help="Run the local stack secured: Kafka over SASL_SSL (SCRAM), PostgreSQL over TLS only, Connect with basic "
        "auth. Certificates and passwords are generated once into <data_dir>/secure/, and every command run with this "
        "data directory uses them. Kept for the data directory's life.",
    ),
) -> None:
    """Start PostgreSQL, Kafka (KRaft) and Kafka Connect with Debezium; idempotent."""
    from aladia_etl.cli.render import err

    rep = reporter()
    if docker and secure:
        from aladia_etl.core.errors import UsageError

        raise UsageError("--secure applies to the local stack only", "drop --docker, or drop --secure")
    if docker:
        from aladia_etl.stack.compose import DockerStack

        DockerStack(settings(), rep).up(timeout)
        err.print("[green]✓[/green] compose stack is up")
        return
    from aladia_etl.stack.local import LocalStack

    if secure:
        from aladia_etl.cli.context import state
        from aladia_etl.stack.secure import SecureFiles

        if LocalStack(settings(), rep).secure():
            rep.info(
                f"generated the secured stack's CA, certificates and passwords in {SecureFiles.of(settings()).root}"
            )
        state.reset_settings()  # the secured stack's client settings apply from now on
    result = LocalStack(settings(), rep).up(timeout=timeout)
    if not result.started:
        err.print("[green]✓[/green] the local stack is already running and healthy")
    else:
        err.print(f"[green]✓[/green] started {', '.join(result.started)}; the local stack is healthy")
    for name, connector_state in result.connectors.items():
        mark = "[green]✓[/green]" if connector_state == "RUNNING" else "[yellow]![/yellow]"
        hint = "" if connector_state in ("RUNNING", "PAUSED", "STOPPED") else f" — see 'aladia cdc status {name}'"
        err.print(f"{mark} connector {name}: {connector_state}{hint}", highlight=False)
    from aladia_etl.cli.views.health import print_health

    print_health(result.health)
