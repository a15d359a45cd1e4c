"""Which directories are aladia's to delete. `aladia up` marks the data directory it uses (and the PostgreSQL
cluster it may place under /var/tmp) with a marker file; `down --purge` deletes only inside marked directories,
refuses everything else with one line, and follows no symbolic link while deleting."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from aladia_etl.core.errors import AladiaError
from aladia_etl.core.files import atomic_write
from aladia_etl.core.progress import SILENT, Reporter

DATA_DIR_MARKER = ".aladia-data-dir"
OWNED_MARKER = ".aladia-owned"
_MAX_MARKER_BYTES = 4096


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def _home() -> Path | None:
    try:
        return Path.home()
    except (KeyError, RuntimeError):
        return None


def _cwd() -> Path | None:
    try:
        return Path.cwd()
    except OSError:
        return None


def _never_ours(path: Path) -> str | None:
    """What `path` is, when it can never be aladia's to delete in."""
    if _same(path, Path("/")):
        return "the root directory"
    home = _home()
    if home is not None and _same(path, home):
        return "your home directory"
    return None


def _read_marker(path: Path, kind: str) -> dict | None:
    """The marker's content when `path` is a regular file (not a link) written by aladia for `kind`."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        with open(path, "rb") as fh:
            data = json.loads(fh.read(_MAX_MARKER_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(data, dict) and data.get("created_by") == "aladia" and data.get("kind") == kind:
        return data
    return None


def _write_marker(marker: Path, kind: str, **facts: str) -> None:
    data = {"created_by": "aladia", "kind": kind, "id": uuid.uuid4().hex, **facts}
    atomic_write(marker, json.dumps(data) + "\n")


def is_marked_data_dir(data_dir: Path) -> bool:
    return _read_marker(data_dir / DATA_DIR_MARKER, "data-dir") is not None


def claim_data_dir(data_dir: Path, reporter: Reporter = SILENT) -> bool:
    """Mark `data_dir` as aladia's when aladia creates it now, or it is an empty directory. Entries that merely have
    the names aladia uses (`kafka/`, `spark/`) prove nothing: a directory holding anything is not marked. Returns
    whether it is marked; a directory that cannot be marked is used all the same, with a note, and `down --purge`
    will refuse to delete anything in it."""
    if is_marked_data_dir(data_dir):
        return True
    what = _never_ours(data_dir)
    if what is None and data_dir.is_symlink():
        what = "a symbolic link"
    elif what is None and data_dir.is_dir():
        held = sorted(entry.name for entry in data_dir.iterdir())
        if held:
            shown = ", ".join(held[:3]) + (", …" if len(held) > 3 else "")
            what = f"a directory aladia did not create that is not empty ({shown})"
    elif what is None and data_dir.exists():
        what = "not a directory"
    if what is not None:
        reporter.warning(
            f"not marking the data directory {data_dir} as aladia's: it is {what}; "
            "'aladia down --purge' will refuse to delete anything there (set ALADIA_DATA_DIR to a directory of its own)"
        )
        return False
    try:
        data_dir.mkdir(parents=True)
    except FileExistsError:
        if data_dir.is_symlink() or not data_dir.is_dir() or any(data_dir.iterdir()):
            return False  # something else made it meanwhile
    _write_marker(data_dir / DATA_DIR_MARKER, "data-dir", path=str(data_dir))
    return True


def check_data_dir(data_dir: Path) -> None:
    """Raise, deleting nothing, unless aladia may delete its stack directories inside `data_dir`."""
    what = _never_ours(data_dir)
    if what is not None:
        raise AladiaError(
            f"refusing to purge the data directory {data_dir}: it is {what}, not a directory aladia created; "
            "nothing was deleted",
            "set ALADIA_DATA_DIR to aladia's own data directory (unset, it is ~/.local/share/aladia)",
        )
    if not (data_dir.exists() or data_dir.is_symlink()) or is_marked_data_dir(data_dir):
        return
    cwd = _cwd()
    where = " (the current directory)" if cwd is not None and _same(data_dir, cwd) else ""
    raise AladiaError(
        f"refusing to purge the data directory {data_dir}{where}: it has no {DATA_DIR_MARKER} marker, so aladia "
        "did not create it; nothing was deleted",
        "check ALADIA_DATA_DIR; if the stack's directories there are aladia's (an older release did not mark it), "
        "delete them yourself",
    )


def mark_owned(path: Path, kind: str, **facts: str) -> None:
    """Mark a directory aladia created outside the data directory (it exists already)."""
    if _read_marker(path / OWNED_MARKER, kind) is None:
        _write_marker(path / OWNED_MARKER, kind, **facts)


def is_owned(path: Path, kind: str, facts: dict[str, str]) -> bool:
    """Whether `path` carries aladia's marker for `kind` with these facts (the marker read without following links)."""
    marker = _read_marker(path / OWNED_MARKER, kind)
    return marker is not None and all(marker.get(key) == value for key, value in facts.items())


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None, mode: int = 0o600) -> None:
    """Write `path` as a new file, never through a symbolic link (an existing entry is removed, not followed), with
    `mode` and, when given, the (uid, gid) owner."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def check_owned(path: Path, kind: str, facts: dict[str, str], uids: set[int]) -> None:
    """Raise, deleting nothing, unless `path` is absent, or a real directory owned by one of `uids` whose marker
    says aladia created it for `kind` with these `facts`."""
    if not (path.exists() or path.is_symlink()):
        return
    marker = None
    if not path.is_symlink() and path.is_dir() and path.stat().st_uid in uids:
        marker = _read_marker(path / OWNED_MARKER, kind)
    if marker is None or any(marker.get(key) != value for key, value in facts.items()):
        raise AladiaError(
            f"refusing to purge {path}: it has no {OWNED_MARKER} marker of aladia's for this data directory; "
            "nothing was deleted",
            f"if it is aladia's (an older release did not mark it), delete it yourself (rm -rf {path})",
        )


def remove_tree(path: Path) -> None:
    """Delete `path`. A symbolic link is removed, never followed — nor is any link inside the tree (rmtree
    works on directory file descriptors where the platform allows it, as on Linux)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def owner_ids(*uids: int | None) -> set[int]:
    return {os.geteuid(), *(uid for uid in uids if uid is not None)}
