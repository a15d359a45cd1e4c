"""`aladia up` → `status` → `down` on a stack of its own; a taken Kafka port fails cleanly."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from aladia_etl.core.errors import ExitCode
from aladia_etl.stack.process import pid_alive, port_is_open
from tests.helpers import artifact_cache, run_cli, settings_env

PORTS = dict(pg_port=25433, kafka_port=29192, controller_port=29193, connect_port=28183)


@pytest.fixture
def own_env():
    base = Path(tempfile.mkdtemp(prefix="aladia-life-", dir="/tmp"))
    base.chmod(0o755)
    env = settings_env(base / "data", artifact_cache(), **PORTS)
    yield env
    run_cli(["down", "--purge"], env)
    shutil.rmtree(base, ignore_errors=True)  # this test's own mkdtemp, emptied by the purge


def _pids(data_dir: Path) -> dict[str, int]:
    out = {}
    for pid_file in (data_dir / "state").glob("*.pid"):
        out[pid_file.stem] = int(pid_file.read_text())
    return out


def test_up_status_down_leaves_nothing_behind(own_env):
    data_dir = Path(own_env["ALADIA_DATA_DIR"])
    up = run_cli(["up"], own_env)
    assert up.code == 0, up.output
    pids = _pids(data_dir)
    assert set(pids) == {"postgres", "kafka", "connect"}
    assert all(pid_alive(pid) for pid in pids.values())

    status = run_cli(["status", "--json"], own_env)
    assert status.code == 0, status.output
    assert json.loads(status.stdout)["healthy"] is True

    down = run_cli(["down"], own_env)
    assert down.code == 0, down.output
    assert not any(pid_alive(pid) for pid in pids.values())
    for port in PORTS.values():
        assert not port_is_open("127.0.0.1", port)
    # No child left either: no process runs in, or names, the stack's directories.
    assert _processes_using(data_dir) == []

    again = run_cli(["status", "--json"], own_env)
    assert again.code == ExitCode.UNHEALTHY


def _processes_using(data_dir: Path) -> list[str]:
    from aladia_etl.core.settings import Settings
    from aladia_etl.stack.postgres import LocalPostgres

    roots = [str(data_dir), str(LocalPostgres(Settings(_env_file=None, data_dir=data_dir)).home)]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if any(cwd.startswith(root) or root in cmdline for root in roots):
            found.append(f"{entry}: {cwd} {cmdline[:80]}")
    return found


def test_taken_kafka_port_fails_cleanly_and_starts_nothing(own_env):
    data_dir = Path(own_env["ALADIA_DATA_DIR"])
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", PORTS["kafka_port"]))
        blocker.listen()
        result = run_cli(["up"], own_env)
    assert result.code == ExitCode.CONFLICT, result.output
    assert f"port {PORTS['kafka_port']}" in result.stderr
    assert "ALADIA_KAFKA__BOOTSTRAP_SERVERS" in result.stderr
    assert "Traceback" not in result.output
    assert [ln for ln in result.stderr.splitlines() if ln.startswith("error:")] == [
        result.stderr.strip().splitlines()[-1]
    ]
    assert not any(pid_alive(pid) for pid in _pids(data_dir).values())
    for port in (PORTS["pg_port"], PORTS["connect_port"]):
        assert not port_is_open("127.0.0.1", port)
