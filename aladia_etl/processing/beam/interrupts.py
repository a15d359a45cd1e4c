"""Ctrl-C reaches every process of the terminal's foreground group: the stream's, and the Prism runner and SDK
worker processes Beam starts as its children. They died of it mid-bundle (tracebacks on the terminal, a job the
stream found UNREACHABLE while stopping) before the stream's own graceful stop could drain them. Beam offers no hook
for how it starts them, so aladia hands it two launchers of its own, written under `<data dir>/beam/launchers`:

- `python` (first on the workers' PATH: they run `python` from it): aladia's interpreter with SIGINT ignored, which
  Python keeps ignored; the worker pool stops its workers with SIGTERM.
- `prism` (Beam's `--prism_location`): the Prism binary in a session of its own (`setsid`), out of the terminal's
  process group; Beam's own SIGINT to its pid, when it shuts Prism down, still reaches it.

The stream's stop (its flag in the control row) then drains the job as SIGTERM does."""

from __future__ import annotations

import os
import shlex
import shutil
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


def prism_launcher(settings: Settings, prism: Path) -> Path:
    """A launcher running `prism` in a session of its own; `prism` itself where `setsid` is missing."""
    setsid = shutil.which("setsid")
    if setsid is None:
        return prism
    script = (
        "#!/bin/sh\n# written by aladia: Prism out of the terminal's process group\n"
        f'exec {shlex.quote(setsid)} {shlex.quote(str(prism))} "$@"\n'
    )
    return _write(launchers_dir(settings) / "prism", script)
