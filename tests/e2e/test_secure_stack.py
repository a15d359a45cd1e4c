"""The whole pipeline on the secured local stack (`aladia up --secure`): Kafka over SASL_SSL with SCRAM-SHA-512,
PostgreSQL over TLS (verify-full against the generated CA, hostssl-only, SCRAM passwords), Connect's REST API behind
basic auth; both engines stream and verify is exact. Every way a client can be misconfigured is one line naming the
service and the fix, exit 3 or 4, and no secret appears in any output, log or answer.

The stack runs on ports and a data directory of its own, started and removed by this module."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from aladia_etl.stack import tls
from tests.e2e.helpers import assert_exact, simulate, stream
from tests.helpers import REPO, artifact_cache, env_for, run_cli, settings_env

PORTS = (26432, 29592, 29593, 28583)  # PostgreSQL, Kafka, its controller, Connect: apart from the session stack's
TOKEN = "serve-token-for-the-secured-test-0123"


@pytest.fixture(scope="module")
def secure():
    base = Path(tempfile.mkdtemp(prefix="aladia-secure-", dir="/tmp"))
    base.chmod(0o755)  # the PostgreSQL server runs as an unprivileged user when tests run as root
    env = settings_env(base / "data", artifact_cache(), *PORTS)
    outputs: list[str] = []
    try:
        result = run_cli(["up", "--secure"], env, timeout=600)
        outputs.append(result.output)
        assert result.code == 0, result.output[-4000:]
        root = base / "data" / "secure"
        secrets = [path.read_text().strip() for path in root.glob("*.password")]
        assert len(secrets) == 4 and all(len(s) >= 32 for s in secrets)
        yield SimpleNamespace(env=env, outputs=outputs, root=root, base=base, secrets=secrets)
        assert_nothing_shows_a_secret(outputs, base / "data", secrets)
    finally:
        run_cli(["down", "--purge"], env, timeout=300)
        shutil.rmtree(base, ignore_errors=True)


def assert_nothing_shows_a_secret(outputs: list[str], data_dir: Path, secrets: list[str]) -> None:
    """No command output, and no log of aladia or of a service (Kafka, Connect, PostgreSQL, Spark), holds a secret.
    Logs are found by name everywhere in the data directory: a new log is checked without being listed here."""
    for text in outputs:
        for secret in secrets:
            assert secret not in text, "a secret in a command's output"
    for path in data_dir.rglob("*.log"):
        if (data_dir / "kafka" / "data") in path.parents:
            # Kafka's segment files (the records, not logs): Connect's config topic holds the connector's
            # configuration, the database password included, as Connect stores every configuration
            continue
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret in {path}"


def cli(secure, args: list[str], timeout: float = 600, **env: str):
    result = run_cli(args, {**secure.env, **env}, timeout=timeout)
    secure.outputs.append(result.output)
    return result


def one_line_error(result, code: int, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.code == code, result.output[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_the_secured_stacks_files_are_private_and_hold_no_secret_inline(secure):
    assert stat.S_IMODE(secure.root.stat().st_mode) == 0o700
    public = {"ca.pem", "postgres.crt"}
    for path in secure.root.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o644 if path.name in public else 0o600), (path.name, oct(mode))
    client = json.loads((secure.root / "client.json").read_text())
    assert client["kafka"]["security"]["protocol"] == "SASL_SSL"
    assert client["postgres"]["sslmode"] == "verify-full"
    text = json.dumps(client)
    assert all(secret not in text for secret in secure.secrets)  # secrets are referenced as files


def test_status_and_config_reach_every_secured_service(secure):
    status = cli(secure, ["status", "--json"])
    assert status.code == 0, status.output
    shown = cli(secure, ["config", "show", "--json"])
    config = json.loads(shown.stdout)
    assert config["kafka"]["security"]["protocol"] == "SASL_SSL"
    for shown_secret in (
        config["kafka"]["security"]["sasl_password"],
        config["postgres"]["password"],
        config["connect"]["password"],
    ):
        assert shown_secret and set(shown_secret) == {"*"}


def other_ca(secure) -> str:
    path = secure.base / "other-ca.pem"
    path.write_bytes(tls.new_ca("someone else's CA").cert_pem)
    return str(path)


def test_kafka_misconfigurations_are_one_line_each(secure):
    wrong = cli(secure, ["topics"], ALADIA_KAFKA__SECURITY__SASL_PASSWORD="not-the-password-0123456789")
    one_line_error(wrong, 3, "Kafka", "credentials", "ALADIA_KAFKA__SECURITY__SASL_PASSWORD")
    unknown = cli(secure, ["topics"], ALADIA_KAFKA__SECURITY__CA_FILE=other_ca(secure))
    one_line_error(unknown, 3, "certificate of Kafka", "not trusted", "ALADIA_KAFKA__SECURITY__CA_FILE")
    # configured by hand, as for any secured Kafka, but by a name the broker's certificate does not carry
    by_hand = {
        "ALADIA_KAFKA__SECURITY__PROTOCOL": "SASL_SSL",
        "ALADIA_KAFKA__SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
        "ALADIA_KAFKA__SECURITY__SASL_USERNAME": "aladia",
        "ALADIA_KAFKA__SECURITY__SASL_PASSWORD_FILE": str(secure.root / "kafka.password"),
        "ALADIA_KAFKA__SECURITY__CA_FILE": str(secure.root / "ca.pem"),
    }
    misnamed = cli(secure, ["topics"], ALADIA_KAFKA__BOOTSTRAP_SERVERS=f"localhost:{PORTS[1]}", **by_hand)
    one_line_error(misnamed, 3, "certificate of Kafka", "not issued for", "ALADIA_KAFKA__BOOTSTRAP_SERVERS")
    plain = cli(secure, ["topics"], ALADIA_KAFKA__SECURITY__PROTOCOL="PLAINTEXT")
    one_line_error(plain, 4, "Kafka", "ALADIA_KAFKA__SECURITY__PROTOCOL")


def test_postgres_misconfigurations_are_one_line_each(secure):
    wrong = cli(secure, ["init"], ALADIA_POSTGRES__PASSWORD="not-the-password-0123456789")
    one_line_error(wrong, 3, "PostgreSQL", "password", "ALADIA_POSTGRES__PASSWORD")
    unknown = cli(secure, ["init"], ALADIA_POSTGRES__SSLROOTCERT=other_ca(secure))
    one_line_error(unknown, 3, "certificate of PostgreSQL", "not trusted", "ALADIA_POSTGRES__SSLROOTCERT")
    by_hand = {
        "ALADIA_POSTGRES__SSLMODE": "verify-full",
        "ALADIA_POSTGRES__SSLROOTCERT": str(secure.root / "ca.pem"),
        "ALADIA_POSTGRES__PASSWORD_FILE": str(secure.root / "postgres.password"),
    }
    misnamed = cli(secure, ["init"], ALADIA_POSTGRES__HOST="localhost", **by_hand)
    one_line_error(misnamed, 3, "certificate of PostgreSQL", "not issued for", "ALADIA_POSTGRES__HOST")
    plain = cli(secure, ["init"], ALADIA_POSTGRES__SSLMODE="disable")
    one_line_error(plain, 3, "PostgreSQL", "only TLS", "ALADIA_POSTGRES__SSLMODE")


def test_connect_needs_its_credentials(secure):
    url = secure.env["ALADIA_CONNECT__URL"]
    assert requests.get(f"{url}/connectors", timeout=10).status_code == 401
    wrong = cli(secure, ["cdc", "list"], ALADIA_CONNECT__PASSWORD="not-the-password-0123456789")
    one_line_error(wrong, 3, "Connect", "ALADIA_CONNECT__PASSWORD")


@pytest.fixture(scope="module")
def secured_pipeline(secure):
    init = cli(secure, ["init"])
    assert init.code == 0, init.output
    register = cli(secure, ["cdc", "register"])
    assert register.code == 0, register.output
    config = json.loads(cli(secure, ["cdc", "config", "--json"]).stdout)
    assert config["database.sslmode"] == "verify-full" and config["database.sslrootcert"].endswith("ca.pem")
    return secure


@pytest.mark.parametrize("engine", ["spark", "beam"])
def test_both_engines_stream_exactly_from_the_secured_stack(secured_pipeline, engine):
    secure = secured_pipeline
    simulate(secure.env, 600, "--seed", "31" if engine == "spark" else "32")
    result = stream(secure.env, engine, "--until-idle")
    secure.outputs.append(json.dumps(result))
    assert result["stopped_reason"] == "idle" and result["lag"] == 0 and result["records"] > 0
    report = assert_exact(secure.env)
    assert {t["table"] for t in report["tables"] if t["source_rows"] > 0} == {
        "customers",
        "products",
        "orders",
        "order_items",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_reports_the_secured_pipeline_healthy_behind_its_token(secured_pipeline):
    secure = secured_pipeline
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "serve", "--port", str(port)],
        env=env_for({**secure.env, "ALADIA_SERVE__TOKEN": TOKEN}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                health = requests.get(f"{url}/health", timeout=30)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "aladia serve did not answer"
                time.sleep(0.2)
        body = health.json()
        for name in ("source_db", "warehouse_db", "kafka", "connect", "connector", "replication_slot"):
            assert body["components"][name]["state"] == "ok", (name, body["components"][name])
        assert requests.get(f"{url}/metrics", timeout=30).status_code == 401
        metrics = requests.get(f"{url}/metrics", headers=auth, timeout=30)
        overview = requests.get(f"{url}/api/overview", headers=auth, timeout=30)
        assert metrics.status_code == 200 and overview.status_code == 200
        secure.outputs += [health.text, metrics.text, overview.text]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
        secure.outputs += [out, err]


def test_bench_runs_against_the_secured_stack(secured_pipeline):
    secure = secured_pipeline
    out = secure.base / "bench.json"
    # one engine: the bench's own clients (fill, freshness, lag) are what this adds; both engines streamed above
    args = ["bench", "--engines", "beam", "--peers", "", "--events", "500", "--rate", "100", "--duration", "3"]
    args += ["--sustained-seconds", "0", "--no-matrix", "--out", str(out)]
    result = cli(secure, args, timeout=1800)
    assert result.code == 0, result.output[-5000:]
    data = json.loads(out.read_text())
    drain = data["drain"]["beam"]
    assert drain["records"] >= data["fill"]["topic_records"] and drain["warehouse_equals_source"] is True
    assert data["freshness"]["beam"]["rows"] > 0
    secure.outputs.append(out.read_text())


def test_a_plain_data_dir_is_not_converted(tmp_path):
    """`up --secure` refuses a data directory holding a plain stack (here: aladia's, with a formatted Kafka), before
    starting anything or writing a file."""
    from aladia_etl.stack.ownership import DATA_DIR_MARKER, claim_data_dir

    data = tmp_path / "data"
    assert claim_data_dir(data)
    (data / "kafka" / "data").mkdir(parents=True)
    (data / "kafka" / "data" / "meta.properties").write_text("version=1\n")
    env = {"ALADIA_DATA_DIR": str(data), "ALADIA_CACHE_DIR": str(artifact_cache())}
    result = run_cli(["up", "--secure"], env, timeout=120)
    one_line_error(result, 3, "plain", "ALADIA_DATA_DIR")
    assert sorted(os.listdir(data)) == sorted([DATA_DIR_MARKER, "kafka"])
