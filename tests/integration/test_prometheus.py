"""A real Prometheus (Debian's, installed by .ci/run) with compose/prometheus.yml and compose/alerts.yml: it scrapes
`aladia serve` and a running stream's --metrics-port on the session's stack, loads every rule, and an alert fires
when its condition is made true for real (a second `aladia serve` whose Kafka Connect does not answer)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from tests.e2e.helpers import wait_until
from tests.helpers import REPO
from tests.integration.test_serve import free_port, spawn, stop

COMPOSE = REPO / "compose"


def prometheus_config(serve: list[str], stream: list[str]) -> dict:
    """The shipped configuration, pointed at this test's ports and scraped every second."""
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(COMPOSE / f) for f in config["rule_files"]]
    targets = {"aladia-serve": serve, "aladia-stream": stream}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": targets.pop(job["job_name"])}]
    assert not targets, f"jobs missing from compose/prometheus.yml: {targets}"
    return config


def answer(api: str, path: str, **params) -> list | dict:
    body = requests.get(f"{api}/api/v1/{path}", params=params, timeout=30).json()
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture(scope="module")
def world(pipeline, stack_env, tmp_path_factory):
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: apt-get install prometheus (.ci/run installs it)"
    home: Path = tmp_path_factory.mktemp("prometheus")
    serve, broken, metrics, web = free_port(), free_port(), free_port(), free_port()
    nothing = free_port()  # nothing listens there: the second server's Kafka Connect is down
    procs = {
        "serve": spawn(["serve", "--port", str(serve)], stack_env),
        "broken": spawn(
            ["serve", "--port", str(broken)], {**stack_env, "ALADIA_CONNECT__URL": f"http://127.0.0.1:{nothing}"}
        ),
        "stream": spawn(["stream", "--engine", "spark", "--metrics-port", str(metrics)], stack_env),
    }
    (home / "prometheus.yml").write_text(
        yaml.safe_dump(prometheus_config([f"127.0.0.1:{serve}", f"127.0.0.1:{broken}"], [f"127.0.0.1:{metrics}"]))
    )
    log = (home / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    api = f"http://127.0.0.1:{web}"
    try:

        def ready() -> bool:
            assert prometheus.poll() is None, (home / "prometheus.log").read_text()[-3000:]
            try:
                return requests.get(f"{api}/-/ready", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, 60, what="Prometheus to be ready")
        yield {"api": api, "serve": f"127.0.0.1:{serve}", "broken": f"127.0.0.1:{broken}", "procs": procs}
    finally:
        prometheus.terminate()
        prometheus.wait(60)
        log.close()
        results = {name: stop(proc, timeout=300) for name, proc in procs.items()}
    for name, (code, _, err) in results.items():
        assert code == 0, f"{name}: {err[-3000:]}"


def test_every_target_is_scraped(world):
    seen: dict = {}

    def all_up() -> bool:
        for name, proc in world["procs"].items():
            assert proc.poll() is None, f"{name} ended: {proc.communicate()[1][-3000:]}"
        seen["targets"] = targets = {
            (t["labels"]["job"], t["labels"]["instance"]): (t["health"], t["lastError"])
            for t in answer(world["api"], "targets")["activeTargets"]
        }
        return len(targets) == 3 and all(health == "up" for health, _ in targets.values())

    wait_until(all_up, 300, interval=1, what=lambda: f"three targets up (saw {seen.get('targets')})")
    assert {job for job, _ in seen["targets"]} == {"aladia-serve", "aladia-stream"}


def test_every_rule_of_alerts_yml_is_loaded_and_evaluates(world):
    shipped = {r["alert"] for g in yaml.safe_load((COMPOSE / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    rules = [r for g in answer(world["api"], "rules")["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == shipped
    wait_until(lambda: all(r.get("lastEvaluation", "").startswith("2") for r in
                           (r for g in answer(world["api"], "rules")["groups"] for r in g["rules"])), 30)  # fmt: skip
    rules = [r for g in answer(world["api"], "rules")["groups"] for r in g["rules"]]
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def series(world, query: str) -> dict[tuple, float]:
    return {
        tuple(sorted(r["metric"].items())): float(r["value"][1])
        for r in answer(world["api"], "query", query=query)["result"]
    }


def test_the_stream_and_the_healthy_server_are_seen_through_prometheus(world):
    wait_until(lambda: series(world, 'aladia_stream_up{job="aladia-stream", engine="spark"} == 1'), 300, interval=1,
               what="the Spark stream's aladia_stream_up = 1, scraped from its --metrics-port")  # fmt: skip
    healthy = series(world, f'aladia_component_up{{instance="{world["serve"]}"}}')
    assert len(healthy) == 4 and set(healthy.values()) == {1.0}, healthy


def test_a_component_down_fires_its_alert(world):
    """AladiaComponentDown keeps its shipped `for: 1m`: pending first, firing after a minute, only where it is true."""

    def alerts() -> list[dict]:
        return [
            a for a in answer(world["api"], "alerts")["alerts"] if a["labels"]["alertname"] == "AladiaComponentDown"
        ]

    wait_until(lambda: any(a["state"] == "firing" for a in alerts()), 180, interval=1,
               what=lambda: f"AladiaComponentDown firing (saw {alerts()})")  # fmt: skip
    firing = [a["labels"] for a in alerts() if a["state"] == "firing"]
    assert firing == [
        {"alertname": "AladiaComponentDown", "component": "connect", "instance": world["broken"],
         "job": "aladia-serve", "severity": "critical"}
    ], firing  # fmt: skip
    assert not series(world, f'aladia_component_up{{instance="{world["serve"]}"}} == 0')
