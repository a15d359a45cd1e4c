"""`aladia serve` against the session's real stack: healthy is 200; the Kafka broker killed is 503 naming kafka
until `aladia up` brings it back; the same for Kafka Connect; an unknown component is 404; /metrics moves while a
Beam stream applies a simulated workload (the stream's own --metrics-port too)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import REPO, env_for, run_cli


def stream_settings(env: dict[str, str]):
    from aladia_etl.core.settings import Settings

    return Settings(_env_file=None, data_dir=env["ALADIA_DATA_DIR"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", *args],
        env=env_for(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def stop(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def server(pipeline, stack_env):
    """`aladia serve` on a free port of this machine, for the module."""
    port = free_port()
    proc = spawn(["serve", "--port", str(port)], stack_env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            requests.get(url + "/health", timeout=10)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "aladia serve did not answer"
            time.sleep(0.2)
    yield url
    code, _, err = stop(proc)
    assert code == 0, err
    assert err.strip().splitlines()[-1] == "stopped: signal"


def wait_health(url: str, code: int, timeout: float = 120) -> dict:
    """Poll /health until it answers `code` (the probes' answers are cached for a second)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(url + "/health", timeout=30)
        if answer.status_code == code:
            return answer.json()
        assert time.monotonic() < deadline, answer.json()
        time.sleep(0.5)


def test_the_healthy_stack_is_200(server):
    body = wait_health(server, 200)
    states = {name: c["state"] for name, c in body["components"].items()}
    for name in ("source_db", "warehouse_db", "kafka", "connect"):
        assert states[name] == "ok", body
    # earlier tests of the session may have paused or re-registered the connector: never failed here
    assert states["connector"] in ("ok", "warning", "absent")
    assert states["replication_slot"] in ("ok", "warning", "absent")
    assert states["stream"] in ("absent", "ok")  # no stream running is not unhealthy
    for name in body["components"]:
        assert requests.get(f"{server}/health/{name}", timeout=30).status_code == 200


def test_the_broker_killed_is_503_naming_kafka_until_up(server, stack_settings, stack_env):
    from aladia_etl.stack.local import LocalStack

    wait_health(server, 200)
    pid = LocalStack(stack_settings).kafka.process.pid()
    assert pid, "the session's broker is not a verified process"
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    body = wait_health(server, 503, timeout=30)
    assert "kafka" in body["unhealthy"] and body["components"]["kafka"]["state"] == "down"
    answer = requests.get(f"{server}/health/kafka", timeout=30)
    assert answer.status_code == 503 and answer.json()["state"] == "down"
    assert time.monotonic() - started < 30
    up = run_cli(["up"], stack_env, timeout=300)
    assert up.code == 0, up.output[-3000:]
    body = wait_health(server, 200)
    assert body["components"]["kafka"]["state"] == "ok"


def test_connect_killed_is_503_naming_connect_until_up(server, stack_settings, stack_env):
    from aladia_etl.stack.local import LocalStack

    wait_health(server, 200)
    pid = LocalStack(stack_settings).connect.process.pid()
    assert pid, "the session's Connect worker is not a verified process"
    os.kill(pid, signal.SIGKILL)
    body = wait_health(server, 503, timeout=30)
    assert "connect" in body["unhealthy"] and body["components"]["connect"]["state"] == "down"
    assert requests.get(f"{server}/health/connect", timeout=30).status_code == 503
    up = run_cli(["up"], stack_env, timeout=300)
    assert up.code == 0, up.output[-3000:]
    body = wait_health(server, 200)
    assert body["components"]["connect"]["state"] == "ok"
    assert body["components"]["connector"]["state"] != "failed"


def test_an_unknown_component_is_404(server):
    answer = requests.get(f"{server}/health/elasticsearch", timeout=30)
    assert answer.status_code == 404
    assert "kafka" in answer.json()["components"]


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(url, timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict, name: str, **labels) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def test_metrics_move_while_a_stream_runs(server, stack_env):
    """Every wait is for a condition, with a budget sized for a slow, loaded 2-core host, and says what it saw."""
    from aladia_etl.processing.state import read_streams
    from tests.e2e.helpers import wait_until

    wait_health(server, 200)
    before = scrape(server + "/metrics")
    assert total(before, "aladia_component_up") == 4
    metrics_port = free_port()
    stream = spawn(["stream", "--engine", "beam", "--metrics-port", str(metrics_port)], stack_env)
    settings = stream_settings(stack_env)
    seen: dict = {}
    try:

        def running() -> bool:
            assert stream.poll() is None, stream.communicate()[1][-3000:]
            seen["streams"] = [(s.get("engine"), s.get("state"), s.get("alive")) for s in read_streams(settings)]
            return any(s.get("pid") == stream.pid and s.get("state") == "running" for s in read_streams(settings))

        wait_until(running, 300, what=lambda: f"the Beam stream to run (its states: {seen.get('streams')})")
        simulated = run_cli(["simulate", "--events", "500", "--seed", "5150"], stack_env, timeout=300)
        assert simulated.code == 0, simulated.output

        def moved() -> bool:
            assert stream.poll() is None, stream.communicate()[1][-3000:]
            seen["after"] = after = scrape(server + "/metrics")
            seen["records"] = (
                total(before, "aladia_stream_records_total", engine="beam"),
                total(after, "aladia_stream_records_total", engine="beam"),
            )
            seen["up"] = total(after, "aladia_stream_up", engine="beam")
            # the stream's own figures: the Beam launching process learns of applied batches when it next reads the
            # warehouse (about once a second), so they may follow the server's by that much
            own = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
            seen["own"] = total(own, "aladia_stream_records_total", engine="beam", stream="default")
            seen["own_up"] = total(own, "aladia_stream_up", engine="beam", stream="default")
            return seen["records"][1] > seen["records"][0] and seen["up"] == 1 and seen["own"] > 0

        wait_until(
            moved,
            300,
            interval=1,
            what=lambda: (
                f"the server's and the stream's metrics to move (records before/after {seen.get('records')}, "
                f"aladia_stream_up {seen.get('up')}, the stream's own records {seen.get('own')})"
            ),
        )
        after = seen["after"]
        assert seen["own_up"] == 1
    finally:
        code, _, err = stop(stream, timeout=300)
    assert code == 0, err[-3000:]
    assert total(after, "aladia_stream_batches_total", engine="beam") > total(
        before, "aladia_stream_batches_total", engine="beam"
    )
    assert total(after, "aladia_stream_batch_duration_seconds_count", engine="beam") > 0
    lags = {dict(labels)["topic"] for name, labels in after if name == "aladia_consumer_lag_records"}
    assert any(topic.startswith("orders_db.public.") for topic in lags), lags
    assert total(after, "aladia_stream_freshness_seconds", engine="beam", quantile="0.99") > 0
    overview = requests.get(server + "/api/overview", timeout=30).json()
    assert any(p["engine"] == "beam" and p["records"] > 0 for p in overview["pipeline"])
    assert overview["series"]["pipeline"], "the dashboard's charts have points"
