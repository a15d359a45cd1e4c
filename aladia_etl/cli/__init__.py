"""The `aladia` command. Each command (or command group) lives in the module named after it and registers itself
here, in one place, in pipeline order.

Errors are turned into output and an exit code here and nowhere else:
- AladiaError → one line (reason — fix) and its exit code; `--debug` adds the traceback, with the same code;
- bad command-line usage → one line naming the problem, exit 2;
- Ctrl-C or SIGTERM → "interrupted", exit 130. Long-running commands (`stream`, `serve`) catch both signals themselves,
  finish the work in flight and exit 0 ("stopped: signal");
- anything else is a bug: one line, exit 1, the traceback with `--debug`.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import ModuleType

import typer

from aladia_etl import __version__
from aladia_etl.cli import (
    bench,
    cdc,
    config,
    consume,
    demo,
    dlq,
    doctor,
    down,
    init,
    migrate,
    notebook,
    pipeline,
    produce,
    report,
    schema,
    serve,
    simulate,
    status,
    stream,
    topics,
    up,
    verify,
)
from aladia_etl.cli.context import state


def _flags_without_metavar() -> None:
    """typer ≥ 0.29 shows a `<bool>` type column for on/off flags (`--json <bool>`), which reads as if the flag took
    a value; flags show no type."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if shown.__module__ == __name__:  # replaced already
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]  # typer has no setting for it


_flags_without_metavar()

app = typer.Typer(
    name="aladia",
    help="Real-time CDC ETL: PostgreSQL → Debezium/Kafka Connect → Kafka → Spark or Beam → warehouse → reports.\n\n"
    "New here? Run 'aladia doctor', then 'aladia demo'.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode="rich",
)


def _root_options(args: list[str]) -> list[str]:
    """The options given before the command's name (skipping the values of the root options that take one)."""
    out, takes_value, waiting = [], {"--log-format", "--pipeline"}, False
    for arg in args:
        if waiting:
            waiting = False
        elif arg.startswith("-"):
            out.append(arg)
            waiting = arg in takes_value
        else:
            break
    return out


def _version(value: bool) -> None:
    if value:
        from aladia_etl.core.versions import components

        pinned = components()
        if "--json" in _root_options(state.argv if state.argv is not None else sys.argv[1:]):
            import json

            typer.echo(json.dumps({"aladia": __version__, **pinned}))
        else:
            typer.echo(f"aladia {__version__}")
            typer.echo(", ".join(f"{name.replace('_', ' ')} {version}" for name, version in pinned.items()))
        raise typer.Exit()


def _log_format(value: str) -> str:
    from aladia_etl.core.logs import FORMATS

    if value.lower() not in FORMATS:
        raise typer.BadParameter(f"'{value}' is not one of: {', '.join(FORMATS)}")
    return value.lower()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    log_format: str = typer.Option(
        "text",
        "--log-format",
        envvar="ALADIA_LOG_FORMAT",
        callback=_log_format,
        help="text, or json: one JSON object per line on stderr (time, level, logger, message, context).",
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Show the version and the pinned components' versions.",
    ),
    version_json: bool = typer.Option(False, "--json", hidden=True, help="With --version: as JSON."),
    pipeline: Path = typer.Option(
        None,
        "--pipeline",
        metavar="FILE",
        help="The pipeline file: which tables to capture and what they become (default: ALADIA_PIPELINE, else "
        "./aladia.yaml, else the built-in orders model).",
    ),
) -> None:
    if version_json:
        from aladia_etl.core.errors import UsageError

        raise UsageError("--json before a command goes only with --version", "put --json after the command's name")
    state.debug = debug
    state.log_format = log_format
    state.pipeline_option = pipeline
    # Libraries log to the root logger (kafka-python connection errors, Beam's import warnings); errors reach the
    # user as one-line messages instead. --debug shows the library logs too; json shows aladia's events.
    from aladia_etl.cli.render import use_log_format
    from aladia_etl.core.logs import configure

    configure(log_format, debug)
    use_log_format(log_format)


for module in (
    # the stack
    doctor,
    up,
    down,
    status,
    # the source and CDC
    init,
    simulate,
    cdc,
    # Kafka
    topics,
    consume,
    produce,
    # streaming into the warehouse, reports
    stream,
    verify,
    dlq,
    schema,
    migrate,
    report,
    notebook,
    # operating it
    serve,
    # flows and configuration
    pipeline,
    demo,
    bench,
    config,
):
    module.register(app)


def _interrupt(signum, frame) -> None:
    """Ctrl-C and SIGTERM outside a long-running command's own handler: remember it, then unwind."""
    state.interrupted = True
    raise KeyboardInterrupt


def _click_exceptions() -> ModuleType:
    """typer ≥ 0.29 vendors click as `typer._click`; older versions depend on click."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - depends on the installed typer
        return importlib.import_module("click.exceptions")


def _early_log_format(args: list[str]) -> None:
    """Errors found while the command line is parsed (before `root` runs) follow --log-format json too."""
    import os

    wanted = os.environ.get("ALADIA_LOG_FORMAT", "text")
    for i, arg in enumerate(args):
        if arg == "--log-format" and i + 1 < len(args):
            wanted = args[i + 1]
        elif arg.startswith("--log-format="):
            wanted = arg.partition("=")[2]
    from aladia_etl.cli.render import use_log_format
    from aladia_etl.core.logs import configure

    state.log_format = "json" if wanted.lower() == "json" else "text"
    configure(state.log_format, state.debug)
    use_log_format(state.log_format)


def _fail(message: str, code: int, detail: str | None = None) -> None:
    from aladia_etl.cli.render import print_error

    if state.log_format == "json":  # one JSON record, the traceback inside it with --debug
        import logging

        logging.getLogger("aladia.cli").error(
            message, exc_info=state.debug, extra={"exit_code": code, **({"detail": detail} if detail else {})}
        )
        sys.exit(code)
    if state.debug:
        import traceback

        traceback.print_exc()
    print_error(message, detail)
    sys.exit(code)


def _command_path(exc, argv: list[str] | None) -> str:
    """The command the user typed ("aladia report"), for the pointer to its --help."""
    if getattr(exc, "ctx", None) is not None:
        return exc.ctx.command_path
    words = ["aladia"]
    for arg in sys.argv[1:] if argv is None else argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    return " ".join(words[:3])


def _quiet_on_broken_pipe() -> None:
    """rich ends a write into a closed pipe with exit code 1; a reader that stops early (`| head`) is no error: the
    rest of the output goes nowhere and the command ends with its own exit code."""
    from rich.console import Console

    from aladia_etl.cli.render import quiet_stdout

    def on_broken_pipe(self) -> None:
        quiet_stdout()

    Console.on_broken_pipe = on_broken_pipe  # type: ignore[method-assign]  # rich has no setting for it


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; every way it can end becomes one line on stderr and a named exit code."""
    from aladia_etl.cli.render import mask_standard_streams, quiet_stdout
    from aladia_etl.core.errors import AladiaError, ExitCode

    mask_standard_streams()
    _quiet_on_broken_pipe()
    click = _click_exceptions()
    args = sys.argv[1:] if argv is None else argv
    state.argv = list(args)
    state.debug = "--debug" in args
    state.interrupted = False
    _early_log_format(args)
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _interrupt)
    try:
        code = app(args=argv, prog_name="aladia", standalone_mode=False)
    except AladiaError as exc:
        _fail(str(exc), int(exc.exit_code), exc.detail)
    except click.UsageError as exc:
        _fail(f"{exc.format_message()} — see '{_command_path(exc, argv)} --help'", int(ExitCode.USAGE))
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", int(ExitCode.INTERRUPTED))
    except click.ClickException as exc:  # e.g. a file option that cannot be opened
        _fail(exc.format_message(), int(ExitCode.USAGE))
    except BrokenPipeError:  # a write that went around the masked streams: the reader went away, not an error
        quiet_stdout()
    except Exception as exc:  # noqa: BLE001 - a bug, not a user error: one line, the traceback only with --debug
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(
            f"unexpected {type(exc).__name__}: {text} — this is a bug; rerun with --debug for the traceback",
            int(ExitCode.ERROR),
        )
    if state.interrupted:  # typer turns a KeyboardInterrupt into exit code 130 without a word
        _fail("interrupted", int(ExitCode.INTERRUPTED))
    sys.exit(code if isinstance(code, int) else 0)
