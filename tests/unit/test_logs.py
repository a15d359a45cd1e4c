"""Structured logs: `--log-format json` (or ALADIA_LOG_FORMAT=json) makes a command's stderr one JSON object per
line, with context, and never a secret."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from aladia_etl.core import logs, secrets
from tests.helpers import REPO, env_for

SECRET = "pg-Secret-4242"
URL_SECRET = "url-Secret-77"


def closed_env(tmp_path) -> dict[str, str]:
    return {
        "ALADIA_DATA_DIR": str(tmp_path / "data"),
        "ALADIA_POSTGRES__PORT": "1",
        "ALADIA_POSTGRES__PASSWORD": SECRET,
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ALADIA_CONNECT__URL": f"http://admin:{URL_SECRET}@127.0.0.1:1",
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aladia_etl", *args],
        env=env_for(env),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def json_lines(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing logged"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    return records


@pytest.mark.parametrize("how", ["option", "environment"])
def test_status_logs_json_lines_without_secrets(tmp_path, how):
    env = closed_env(tmp_path)
    if how == "environment":
        env["ALADIA_LOG_FORMAT"] = "json"
        args = ["status"]
    else:
        args = ["--log-format", "json", "status"]
    result = run(args, env)
    assert result.returncode == 7, result.stderr
    records = json_lines(result.stderr)
    by_component = {r["component"]: r for r in records if "component" in r}
    assert {"postgres", "kafka", "connect"} <= set(by_component)
    assert by_component["kafka"]["level"] == "INFO" and by_component["kafka"]["healthy"] is False
    assert by_component["connect"]["address"] == "http://admin:********@127.0.0.1:1"
    everything = result.stdout + result.stderr
    assert SECRET not in everything and URL_SECRET not in everything


def test_an_error_is_one_json_line_with_its_exit_code(tmp_path):
    result = run(["--log-format", "json", "stream", "--engine", "flink"], closed_env(tmp_path))
    assert result.returncode == 2
    (record,) = json_lines(result.stderr)
    assert record["level"] == "ERROR" and "unknown engine 'flink'" in record["message"]
    assert record["exit_code"] == 2


def test_a_usage_error_before_the_command_runs_is_json_too(tmp_path):
    result = run(["--log-format", "json", "serve", "--port", "99999"], closed_env(tmp_path))
    assert result.returncode == 2
    (record,) = json_lines(result.stderr)
    assert "--port" in record["message"]


def test_a_bad_log_format_is_a_usage_error(tmp_path):
    result = run(["--log-format", "xml", "status"], closed_env(tmp_path))
    assert result.returncode == 2
    assert "--log-format" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_formatter_keeps_context_and_masks_secrets():
    secrets.register("hunter2-pw")
    record = logging.makeLogRecord(
        {
            "name": "aladia.stream",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "connecting to postgresql://app:hunter2-pw@db:5432/x with password=abc123 and %s",
            "args": ("hunter2-pw",),
            "engine": "beam",
            "batch_id": 7,
            "detail": {"url": "http://u:p4ss@h:1"},
        }
    )
    data = json.loads(logs.JsonFormatter().format(record))
    assert data["engine"] == "beam" and data["batch_id"] == 7 and data["logger"] == "aladia.stream"
    text = json.dumps(data)
    for secret in ("hunter2-pw", "abc123", "p4ss"):
        assert secret not in text
    assert "postgresql://app:********@db:5432/x" in data["message"]


def test_the_stream_logs_batches_and_retries_with_context(caplog):
    from aladia_etl.processing.model import StreamProgress
    from aladia_etl.warehouse.loader import ApplyResult
    from aladia_etl.warehouse.staging import StageStats

    progress = StreamProgress("spark", "nightly")
    caplog.set_level(logging.INFO, logger="aladia")
    stats = StageStats()
    stats.records = 10
    progress.record_batch(ApplyResult(applied=True, stats=stats), 0.25, batch_id=3)
    progress.note_retry("the warehouse unreachable (refused), retrying in 1 s, 1st attempt, down for 0 s")
    progress.note_retry(None)
    applied, retrying, recovered = caplog.records
    assert applied.batch_id == 3 and applied.records == 10 and applied.engine == "spark" and applied.stream == "nightly"
    assert retrying.levelname == "WARNING" and "retrying" in retrying.getMessage()
    assert recovered.levelname == "INFO" and "recovered" in recovered.getMessage()
