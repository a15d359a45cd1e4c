"""Ctrl-C reaches every process of the terminal's foreground group: the stream's, and the Prism runner and SDK
worker processes Beam starts as its children. They died of it mid-bundle (tracebacks on the terminal, a job the
stream found UNREACHABLE while stopping) before the stream's own graceful stop could drain them. Beam offers no hook
for how it starts them, so aladia hands it two launchers of its own, written under `<data dir>/beam/launchers`:

- `python` (first on the workers' PATH: they run `python` from it): aladia's interpreter with SIGINT ignored, which
  Python keeps ignored; the worker pool stops its workers with SIGTERM.
- `prism` (Beam's `--prism_location`): the Prism binary in a session of its own, out of the terminal's process
  group (Beam's own SIGINT to its pid, when it shuts Prism down, still reaches it), and with a death signal, so that
  it ends with the stream that started it (a kill -9, a hangup) instead of outliving it in its session.

The stream's stop (its flag in the control row) then drains the job as SIGTERM does."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from aladia_etl.core.settings import Settings


def launchers_dir(settings: Settings) -> Path:
    return settings.data_dir / "beam" / "launchers"


def _write(path: Path, text: str) -> Path:
    """Written whole, then renamed: a stream starting beside another never runs half a script."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text() == text:
        return path
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.chmod(0o755)
    partial.replace(path)
    return path


def worker_python(settings: Settings) -> Path:
    """The directory whose `python` runs this interpreter with SIGINT ignored (put it first on PATH)."""
    script = (
        "#!/bin/sh\n# written by aladia: SDK workers ignore the terminal's Ctrl-C\ntrap '' INT\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    return _write(launchers_dir(settings) / "python", script).parent


# Run by the launcher: a session of its own, and the death signal set before exec (it survives exec), checked
# against a parent that died first.
_PRISM_START = (
    "import ctypes, os, signal, sys\n"
    "parent = os.getppid()\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != parent:\n"
    "    sys.exit(1)\n"
    "os.setsid()\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def prism_launcher(settings: Settings, prism: Path) -> Path:
    """A launcher running `prism` in a session of its own (out of the terminal's process group), killed when the
    process that started it ends (a kill -9 of the stream, a hangup): a session of its own would outlive both."""
    if not sys.platform.startswith("linux"):
        return prism
    script = (
        "#!/bin/sh\n# written by aladia: Prism in a session of its own, ended with the stream that started it\n"
        f'exec {shlex.quote(sys.executable)} -S -c {shlex.quote(_PRISM_START)} {shlex.quote(str(prism))} "$@"\n'
    )
    return _write(launchers_dir(settings) / "prism", script)
