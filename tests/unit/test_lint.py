"""The code base passes its own linters (ruff check and ruff format)."""

from __future__ import annotations

import subprocess
import sys

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
