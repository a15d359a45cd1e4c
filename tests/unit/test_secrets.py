"""One masking function for every output path: each path — the terminal (error lines and JSON), log lines (text and
JSON), a stream's state file, the health API (/health, /api/overview, /metrics) — is fed a secret in each form it
can take, and none of them shows it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from aladia_etl.core import logs, secrets
from aladia_etl.core.settings import Settings
from tests.helpers import REPO, env_for
from tests.unit.serve import fakes

SECRET = "Zq9!p@ss/w:rd"  # holds '@', '/' and ':', which URLs must escape
ESCAPED = "Zq9%21p%40ss%2Fw%3Ard"

# What a secret looks like in the places it turns up (requests rewrites URLs: host lower-cased, escapes decoded).
FORMS = {
    "url": f"Kafka Connect unreachable at http://admin:{SECRET}@connect.example:8083/connectors",
    "url escaped": f"GET http://admin:{ESCAPED}@CONNECT.example:8083/ failed",
    "url escaped lower": f"url=http://admin:{ESCAPED.lower()}@connect.example:8083",
    "pgpassword": f"PGPASSWORD={SECRET} psql -h db",
    "conninfo": f"host=db port=5432 user=app password={SECRET} dbname=x",
    "json pair": json.dumps({"password": SECRET, "user": "app"}),
    "yaml pair": f"sasl.password: {SECRET}",
    "bare": f"the server said: '{SECRET}' is wrong",
    "other url password": "postgres://app:hunter2-unregistered@db:5432/x",
}
LEAKS = (SECRET, ESCAPED, ESCAPED.lower(), "hunter2-unregistered")


@pytest.fixture(autouse=True)
def registered():
    secrets.register(SECRET)
    yield
    secrets.forget_all()


def leaked(text: str) -> list[str]:
    return [s for s in LEAKS if s in text]


@pytest.mark.parametrize("form", FORMS)
def test_mask_hides_each_form(form):
    masked = secrets.mask(FORMS[form])
    assert not leaked(masked), masked
    assert secrets.MASK in masked


def test_mask_keeps_what_is_not_a_secret():
    for text in (
        "batch_token = spark:abc:3",
        "mailto:user@example.com",
        "password authentication failed for user app",
        "http://127.0.0.1:8083/connectors",
    ):
        assert secrets.mask(text) == text


def test_mask_data_hides_secret_keys_whole_and_masks_every_string():
    data = {"db_password": "x y z", "nested": [{"note": FORMS["pgpassword"]}], "ok": True, "token": None}
    masked = secrets.mask_data(data)
    assert masked["db_password"] == secrets.MASK and not leaked(json.dumps(masked))
    assert masked["ok"] is True and masked["token"] is None


def test_settings_register_their_secrets(tmp_path):
    secrets.forget_all()
    Settings(
        _env_file=None,
        data_dir=tmp_path,
        postgres={"password": "pw-from-settings"},
        connect={"url": "http://u:conn%2Fsecret@127.0.0.1:8083"},
    )
    assert "pw-from-settings" not in secrets.mask("x pw-from-settings y")
    assert "conn/secret" not in secrets.mask("decoded: conn/secret")
    assert "conn%2Fsecret" not in secrets.mask("escaped: conn%2Fsecret")


@pytest.mark.parametrize("formatter", [logs.JsonFormatter(), logs.MaskingFormatter("%(message)s")])
def test_log_lines(formatter):
    for text in FORMS.values():
        record = logging.makeLogRecord(
            {"name": "aladia.x", "levelno": 30, "levelname": "WARNING", "msg": text, "detail": text, "args": ()}
        )
        assert not leaked(formatter.format(record))


def test_the_stream_state_file(tmp_path):
    from aladia_etl.processing.model import StreamOptions, StreamProgress
    from aladia_etl.processing.state import StatePublisher, read_streams

    settings = Settings(_env_file=None, data_dir=tmp_path)
    progress = StreamProgress("spark")
    for form, text in FORMS.items():
        progress.note_retry(text, form)
    progress.stopped_reason = FORMS["url"]
    publisher = StatePublisher(settings, StreamOptions(), progress)
    publisher.now()
    written = publisher.path.read_text()
    assert not leaked(written), written
    assert not leaked(json.dumps(read_streams(settings), default=str))


def test_the_health_api(tmp_path):
    from aladia_etl.serve.app import create_app

    world = fakes.World()
    world.connector = {"name": "orders-connector", "state": "FAILED", "tasks": ["FAILED"], "trace": FORMS["url"]}
    world.streams = [fakes.published_stream(retrying=" / ".join(FORMS.values()))]
    world.down = {"connect"}
    observer = fakes.observer(fakes.settings(tmp_path), world)
    original = world.probes

    def probes(settings):
        found = original(settings)
        found["connect"] = lambda s, t: fakes.ComponentState("connect", "down", FORMS["url escaped"], FORMS["url"])
        return found

    world.probes = probes
    observer = fakes.observer(fakes.settings(tmp_path), world)
    client = TestClient(create_app(observer))
    for path in ("/health", "/health/connect", "/health/stream", "/api/overview", "/metrics"):
        body = client.get(path).text
        assert not leaked(body), (path, body[:500])


def test_the_terminal(tmp_path):
    """An error that carries the Connect URL (requests rewrote it) and the JSON a command prints."""
    env = env_for(
        {
            "ALADIA_DATA_DIR": str(tmp_path / "data"),
            "ALADIA_CONNECT__URL": f"http://admin:{ESCAPED}@127.0.0.1:1",
            "ALADIA_POSTGRES__PASSWORD": SECRET,
        }
    )
    for args in (["cdc", "list"], ["--log-format", "json", "cdc", "list"], ["config", "show", "--json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "aladia_etl", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert not leaked(proc.stdout + proc.stderr), (args, proc.stdout, proc.stderr)


def test_masked_json_stays_json():
    """Output that is JSON (`--json`, the API) is masked as text: it must still parse, with the secrets gone."""
    data = {
        "secret": None,
        "tokens": [1, 2],
        "token_count": 5,
        "records": 12345,
        "note": 'PGPASSWORD="hun\\"ter22" psql; token=abc\\"def',
        "url": FORMS["url"],
        "password": SECRET,
    }
    masked = secrets.mask(json.dumps(data))
    back = json.loads(masked)
    assert back["secret"] is None and back["tokens"] == [1, 2] and back["token_count"] == 5
    assert back["records"] == 12345
    assert "hun" not in back["note"] and "ter22" not in back["note"] and "abc" not in back["note"]
    assert not leaked(masked)


def test_a_registered_secret_is_masked_only_where_it_stands_alone():
    secrets.register("4321")
    assert secrets.mask("records: 143210, password 4321.") == f"records: 143210, password {secrets.MASK}."
