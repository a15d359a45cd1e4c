"""The `aladia` command. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import sys

import typer

from aladia_etl import __version__
from aladia_etl.cli import bench as bench_cmd
from aladia_etl.cli import bus as bus_cmd
from aladia_etl.cli import cdc as cdc_cmd
from aladia_etl.cli import config as config_cmd
from aladia_etl.cli import demo as demo_cmd
from aladia_etl.cli import report as report_cmd
from aladia_etl.cli import source as source_cmd
from aladia_etl.cli import stack as stack_cmd
from aladia_etl.cli import stream as stream_cmd
from aladia_etl.cli.context import state

app = typer.Typer(
    name="aladia",
    help="Real-time CDC ETL: PostgreSQL → Debezium/Kafka Connect → Kafka → Spark or Beam → warehouse → reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aladia {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    state.debug = debug
    import logging

    # Libraries log to the root logger (kafka-python connection errors, Beam's import warnings); errors reach the
    # user as one-line messages instead. --debug shows the library logs too.
    root_logger = logging.getLogger()
    if debug:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("aladia").setLevel(logging.DEBUG)
    elif not root_logger.handlers:
        root_logger.addHandler(logging.NullHandler())


stack_cmd.register(app)
source_cmd.register(app)
app.add_typer(cdc_cmd.app, name="cdc")
bus_cmd.register(app)
stream_cmd.register(app)
report_cmd.register(app)
demo_cmd.register(app)
bench_cmd.register(app)
app.add_typer(config_cmd.app, name="config")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning AladiaError into one line on stderr and its exit code."""
    from aladia_etl.errors import AladiaError, ExitCode

    try:
        app(args=argv, prog_name="aladia", standalone_mode=True)
    except AladiaError as exc:
        if state.debug:
            raise
        from aladia_etl.cli.render import print_error

        print_error(str(exc), exc.detail)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        if state.debug:
            raise
        from aladia_etl.cli.render import print_error

        print_error("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception as exc:  # a bug, not a user error: one line, the traceback only with --debug
        if state.debug:
            raise
        from aladia_etl.cli.render import print_error

        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print_error(f"unexpected {type(exc).__name__}: {text} — this is a bug; rerun with --debug for the traceback")
        sys.exit(int(ExitCode.ERROR))
