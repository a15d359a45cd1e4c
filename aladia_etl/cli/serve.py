"""`aladia serve`."""

from __future__ import annotations

from pathlib import Path

import typer

from aladia_etl.cli.context import pipeline_if_possible, reporter, settings


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on.", metavar="ADDRESS"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on.", metavar="PORT"),
    insecure: bool = typer.Option(
        False, "--insecure", help="Serve a non-loopback address without a token (ALADIA_SERVE__TOKEN) anyway."
    ),
    certfile: Path | None = typer.Option(None, "--certfile", help="PEM certificate: serve over HTTPS.", metavar="PATH"),
    keyfile: Path | None = typer.Option(None, "--keyfile", help="PEM private key of --certfile.", metavar="PATH"),
) -> None:
    """Health API, Prometheus metrics and a live dashboard: GET /health, /health/{component}, /metrics,
    /api/overview and / (the dashboard). With ALADIA_SERVE__TOKEN every endpoint but /health requires
    'Authorization: Bearer <token>' (a browser: the token as basic auth's password). Ctrl-C or SIGTERM stop it."""
    from aladia_etl.cli.render import err
    from aladia_etl.serve.server import serve as run

    def ready(url: str) -> None:
        err.print(f"[dim]•[/dim] serving the health API and dashboard on {url} (metrics: {url}metrics; Ctrl-C stops)")

    pipeline_if_possible(reporter())  # the pipeline file's topics, when its tables can be resolved
    reason = run(settings(), host, port, on_ready=ready, insecure=insecure, certfile=certfile, keyfile=keyfile)
    err.print(f"stopped: {reason}", markup=False, highlight=False)
