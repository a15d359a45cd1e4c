"""An in-process harness for the `aladia` CLI: runs `aladia_etl.cli.main` with its own environment and captures
what it writes and the exit code, without a subprocess (for the many CLI cases that need no real service)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from tests.helpers import CliResult


def invoke(args: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    from aladia_etl.cli import main
    from aladia_etl.cli.context import state

    saved_env = os.environ.copy()
    saved_cwd = Path.cwd()
    saved_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for key in [k for k in os.environ if k.startswith("ALADIA_")]:
        del os.environ[key]
    os.environ.update(env or {})
    os.environ["COLUMNS"] = "200"
    state.reset()
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        state.reset()
    return CliResult(code, out.getvalue(), err.getvalue())
