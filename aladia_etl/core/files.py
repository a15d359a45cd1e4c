"""Writing output files so that a failure never leaves half a file behind, and says in one line why."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aladia_etl.core.errors import UsageError


def atomic_write(
    path: Path, text: str, fix: str = "choose a file in a writable directory (e.g. --out report.html)"
) -> None:
    """Write to a temporary file next to `path`, then rename it into place (`fix`: the hint of the error when it
    cannot be written)."""
    tmp: str | None = None
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}", fix) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path, option: str, directory: bool = False) -> Path:
    """Fail early (before any work) when `path` cannot be written: a file where a directory is wanted or the
    reverse, a parent that is a file, a directory where nothing can be created. Creates nothing."""
    path = path.expanduser().absolute()
    kind = "directory" if directory else "file"
    if path.exists() and path.is_dir() != directory:
        raise UsageError(f"{option} {path} is a {'file' if directory else 'directory'}", f"give a {kind} for {option}")
    existing = path if directory and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"{option} {path}: {existing} is not a directory", f"give a {kind} in a directory for {option}"
        )
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".aladia-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(
            f"{option} {path}: cannot create files in {existing} ({exc.strerror or exc})",
            f"give a {kind} in a writable directory for {option}",
        ) from None
    return path
