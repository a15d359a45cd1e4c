"""`aladia serve` as a user runs it, in a subprocess against closed ports: the signal rule (SIGINT/SIGTERM: a
graceful stop, exit 0, one line "stopped: signal"), a port in use (exit 5), bad options (exit 2)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from aladia_etl.core.errors import ExitCode
from tests.helpers import REPO, env_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_env(tmp_path) -> dict[str, str]:
    return {
        "ALADIA_DATA_DIR": str(tmp_path / "data"),
        "ALADIA_POSTGRES__PORT": "1",
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ALADIA_CONNECT__URL": "http://127.0.0.1:1",
        "ALADIA_HEALTH__PROBE_TIMEOUT_S": "0.5",
    }


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "serve", *args],
        env=env_for(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def wait_serving(proc: subprocess.Popen, url: str, timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("aladia serve did not answer")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_gracefully_with_exit_0(tmp_path, sig):
    port = free_port()
    proc = start(["--port", str(port)], closed_env(tmp_path))
    try:
        answer = wait_serving(proc, f"http://127.0.0.1:{port}/health")
        assert answer.status_code == 503 and answer.json()["components"]["kafka"]["state"] == "down"
        proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert stderr.strip().splitlines()[-1] == "stopped: signal"
    assert "Traceback" not in stderr and "interrupted" not in stderr


def test_json_logs_while_serving(tmp_path):
    import json

    port = free_port()
    proc = start(["--port", str(port)], {**closed_env(tmp_path), "ALADIA_LOG_FORMAT": "json"})
    try:
        wait_serving(proc, f"http://127.0.0.1:{port}/health")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert any(r.get("component") == "kafka" and r["level"] == "WARNING" for r in records)  # kafka is down
    assert records[-1]["message"] == "stopped: signal"


def test_a_port_in_use_is_one_line_and_exit_5(tmp_path):
    from tests.cli import invoke

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = invoke(["serve", "--port", str(port)], closed_env(tmp_path))
    assert result.code == ExitCode.CONFLICT
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "0"], "--port"),
        (["--port", "65536"], "--port"),
        (["--port", "http"], "--port"),
        (["--host", "bad host!"], "--host"),
        (["--host", "192.0.2.1"], "192.0.2.1"),  # not an address of this machine
    ],
)
def test_bad_options_are_usage_errors(tmp_path, args, needle):
    from tests.cli import invoke

    result = invoke(["serve", *args], closed_env(tmp_path))
    assert result.code == ExitCode.USAGE, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
