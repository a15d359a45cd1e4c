"""compose/prometheus.yml and compose/alerts.yml as Prometheus' own tool reads them: valid, and every alert fires on
its condition (after its `for`) and not before (compose/alerts.test.yml, run by `promtool test rules`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.helpers import REPO

COMPOSE = REPO / "compose"


def promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: apt-get install prometheus (.ci/run installs it)"
    return subprocess.run([tool, *args], cwd=COMPOSE, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("check", "file"), [("config", "prometheus.yml"), ("rules", "alerts.yml")])
def test_promtool_accepts_the_file(check, file):
    result = promtool("check", check, file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_its_condition_and_not_before():
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_does_not():
    alerts = {r["alert"] for g in yaml.safe_load((COMPOSE / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    cases = [
        c for t in yaml.safe_load((COMPOSE / "alerts.test.yml").read_text())["tests"] for c in t["alert_rule_test"]
    ]
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts == firing, f"alerts never shown firing: {sorted(alerts - firing)}"
    assert alerts == quiet, f"alerts never shown quiet: {sorted(alerts - quiet)}"
