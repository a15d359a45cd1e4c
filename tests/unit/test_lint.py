"""The code base passes its own linters (ruff check and ruff format) and its type checker (mypy)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import REPO


def test_ruff_check():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "aladia_etl", "tests"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "aladia_etl", "tests"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _mypy_cache() -> Path:
    """mypy's incremental cache (a cold run takes ~15 s, a warm one ~1 s), outside the work tree: in the virtual
    environment, else in the temporary directory, one per checkout."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "mypy-cache"
    return Path(tempfile.gettempdir()) / f"aladia-mypy-cache-{hashlib.sha256(str(REPO).encode()).hexdigest()[:12]}"


def test_mypy():
    """The settings are pyproject.toml's [tool.mypy] (what it checks: the aladia_etl package)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(_mypy_cache())],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
