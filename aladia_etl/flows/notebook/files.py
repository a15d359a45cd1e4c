"""Where `aladia notebook` writes: the target of --out and the failed run's notebook beside it, and what it may
replace — a file that does not exist, or a notebook it wrote itself (a regular, writable file whose `metadata.aladia`
says so). Anything else (`--out README.md`, `.env`, a device, a pipe, a link, a read-only file, the --bench file) is
refused with one line before anything runs, and checked again just before a write."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from aladia_etl.core.errors import UsageError

SUFFIX = ".ipynb"
DEFAULT_NAME = f"aladia-notebook{SUFFIX}"
MARKER = "aladia"  # the notebook's metadata key that tells aladia wrote it (`cells.build_notebook`)
MAX_NOTEBOOK_BYTES = 256 << 20  # an existing file larger than this is no notebook of aladia's
WRITE_FIX = f"give a {SUFFIX} file in a writable directory (e.g. --out analysis{SUFFIX})"


def target(out: Path | None) -> Path:
    """Where the notebook goes: `out`, a file whose name ends in .ipynb; `out/aladia-notebook.ipynb` for a directory
    (one that exists, or a path without an extension: created); by default ./aladia-notebook.ipynb, beside
    `aladia report --format html`'s. Any other name is a UsageError (`--out README.md` must not replace it)."""
    path = (out or Path(DEFAULT_NAME)).expanduser().absolute()
    if path.is_dir() or (not path.suffix and not _exists(path)):
        return path / DEFAULT_NAME
    if path.suffix.lower() != SUFFIX:
        raise UsageError(
            f"--out {path} is not a notebook file (its name does not end in {SUFFIX})",
            f"give a file name ending in {SUFFIX} (e.g. --out {path.with_suffix(SUFFIX).name}) or a directory",
        )
    return path


def failed_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.failed{path.suffix or SUFFIX}")


def check_target(out: Path | None, bench: Path | None = None) -> Path:
    """`target(out)`, checked before anything runs: not the bench file; where it, or the failed run's notebook
    beside it, exists, a regular file that is a notebook `aladia notebook` wrote (anything else is never replaced);
    in a directory where files can be created. One-line UsageErrors."""
    from aladia_etl.core.files import check_writable

    if bench is not None and out is not None and _same_file(Path(out).expanduser(), Path(bench).expanduser()):
        raise UsageError(f"--out {out} is the --bench file", f"give another file name ending in {SUFFIX}")
    path = target(out)
    failed = failed_path(path)
    if bench is not None:
        for candidate in (path, failed):
            if _same_file(candidate, Path(bench).expanduser()):
                raise UsageError(
                    f"--out {path} would replace the --bench file {bench}",
                    f"give another file name ending in {SUFFIX}",
                )
    problem = replace_problem(path)
    if problem:
        raise UsageError(f"--out {path} {problem}", f"give a new file name ending in {SUFFIX}, or move it away")
    problem = replace_problem(failed)
    if problem:
        raise UsageError(
            f"--out {path}: {failed} (where a failed run is saved) {problem}",
            f"move it away, or give another --out file name ending in {SUFFIX}",
        )
    return check_writable(path, "--out")


def replace_problem(path: Path) -> str | None:
    """Why `path` must not be replaced by a notebook (None: it does not exist, or is a notebook aladia wrote)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or type(exc).__name__})"
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISDIR(mode):
        return "is a directory"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, pipe or socket)"
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "is read-only"
    if not is_aladia_notebook(path):
        return "exists and is not a notebook 'aladia notebook' wrote"
    return None


def is_aladia_notebook(path: Path) -> bool:
    """Whether `path` is a regular file holding a notebook `aladia notebook` wrote (its `metadata.aladia`)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_NOTEBOOK_BYTES:
                return False
            data = json.loads(fh.read(MAX_NOTEBOOK_BYTES + 1))
    except (OSError, ValueError, RecursionError):
        return False
    meta = data.get("metadata") if isinstance(data, dict) else None
    marker = meta.get(MARKER) if isinstance(meta, dict) else None
    return isinstance(marker, dict) and isinstance(marker.get("sections"), list)


def _exists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # something is there (or may be): not a directory to create
    return True


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.absolute() == b.absolute()
