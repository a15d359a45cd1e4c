"""Fixtures of the stack-manager tests: no real stack, and a guard that no signal reaches a process the test did
not start itself (a bug here must fail a test, never signal the machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aladia_etl.core.progress import Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.stack import postgres
from aladia_etl.stack.probes import ComponentHealth

REAL_KILL = os.kill
REAL_KILLPG = os.killpg


@dataclass
class SignalGuard:
    """Records every os.kill / os.killpg; forwards only those aimed at pids the test allowed."""

    allowed: set[int] = field(default_factory=set)
    calls: list[tuple[str, int, int]] = field(default_factory=list)

    def allow(self, pid: int) -> None:
        self.allowed.add(pid)

    def kill(self, pid: int, sig: int) -> None:
        if sig != 0:
            self.calls.append(("kill", pid, sig))
        if pid in self.allowed or (sig == 0 and pid > 0):
            REAL_KILL(pid, sig)

    def killpg(self, pgid: int, sig: int) -> None:
        self.calls.append(("killpg", pgid, sig))
        if pgid in self.allowed:
            REAL_KILLPG(pgid, sig)


@pytest.fixture(autouse=True)
def guard(monkeypatch) -> SignalGuard:
    guard = SignalGuard()
    monkeypatch.setattr(os, "kill", guard.kill)
    monkeypatch.setattr(os, "killpg", guard.killpg)
    return guard


class Notes(Reporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def info(self, message: str) -> None:
        self.infos.append(message)


@pytest.fixture
def notes() -> Notes:
    return Notes()


@pytest.fixture
def shared_tmp(monkeypatch, tmp_path) -> Path:
    """Stands in for /var/tmp, where PostgreSQL's cluster goes when its account cannot reach the data dir."""
    path = tmp_path / "var-tmp"
    path.mkdir()
    monkeypatch.setattr(postgres, "SHARED_TMP", path)
    return path


@pytest.fixture
def settings(tmp_path, shared_tmp, monkeypatch) -> Settings:
    # The cluster under the data directory, whoever runs the tests (as root, pytest's tmp_path is private).
    monkeypatch.setattr(postgres, "_traversable_by", lambda path, user: True)
    return Settings(_env_file=None, data_dir=tmp_path / "data")


@pytest.fixture
def no_probes(monkeypatch) -> None:
    """Health checks that reach no service (the machine's services belong to someone else)."""
    from aladia_etl.stack.connect import LocalConnect
    from aladia_etl.stack.kafka import LocalKafka
    from aladia_etl.stack.postgres import LocalPostgres

    for cls in (LocalPostgres, LocalKafka, LocalConnect):
        monkeypatch.setattr(cls, "health", lambda self: ComponentHealth(self.name, False, "-", "not probed"))


@pytest.fixture
def sleeper(guard):
    """A live process that is not aladia's (started here, so it can be cleaned up)."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    REAL_KILL(proc.pid, signal.SIGKILL)
    proc.wait(5)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
