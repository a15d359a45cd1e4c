"""`aladia doctor` as a user runs it (a subprocess): every check on one line, a missing Java or a taken port named
with its fix and the exit code; `--version` with the pinned versions. Nothing is started."""

from __future__ import annotations

import json
import os
import socket

from aladia_etl.core import versions
from aladia_etl.flows import doctor
from tests.helpers import run_cli


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env(tmp_path, **extra: str) -> dict[str, str]:
    """Ports nobody holds: a stack running on this machine (the defaults 5432, 9092, 9093, 8083) is not the test's."""
    return {
        "ALADIA_DATA_DIR": str(tmp_path / "data"),
        "ALADIA_CACHE_DIR": str(tmp_path / "cache"),
        "ALADIA_POSTGRES__PORT": str(free_port()),
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "ALADIA_KAFKA__CONTROLLER_PORT": str(free_port()),
        "ALADIA_CONNECT__URL": f"http://127.0.0.1:{free_port()}",
        **extra,
    }


def test_a_machine_without_java_is_told_so_in_one_line(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # a PATH without java (the PostgreSQL binaries are found in /usr/lib/postgresql all the same)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (os.path.isfile(f"{p}/java")))
    result = run_cli(["doctor"], {**env(tmp_path), "PATH": path, "JAVA_HOME": ""})
    assert result.code == 6, result.output
    java = [line for line in result.stdout.splitlines() if " java " in f" {line} "]
    assert len(java) == 1 and java[0].startswith("✗") and "Java is not installed" in java[0]
    assert "install Java 17+" in java[0]
    assert "Traceback" not in result.output


def test_a_taken_port_is_named_with_its_setting(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        result = run_cli(["doctor", "--json"], env(tmp_path, ALADIA_POSTGRES__PORT=str(port)))
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == [f"port {port}"], report
    assert "ALADIA_POSTGRES__PORT" in failed[0]["fix"] and failed[0]["code"] == 5
    assert result.code == 5 == report["exit_code"]


def test_every_check_passes_on_a_machine_that_has_everything(tmp_path):
    result = run_cli(["doctor", "--json"], env(tmp_path))
    report = json.loads(result.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names[:4] == ["python", "java", "postgres", "maven"] and "disk" in names and "beam" in names
    assert result.code == 0 and report["ok"], report


def test_an_unreachable_maven_repository_is_a_missing_dependency(tmp_path):
    from aladia_etl.core.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    check = doctor.maven(settings, reach=lambda url: "ConnectTimeout")
    assert not check.ok and check.code == 6 and "ConnectTimeout" in check.detail and "mirror" in check.fix


def test_the_repository_is_the_first_mirror_of_maven_settings(tmp_path):
    xml = tmp_path / "settings.xml"
    xml.write_text(
        '<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0"><mirrors><mirror><id>m</id>'
        "<url>https://mirror.example.com/maven2</url><mirrorOf>*</mirrorOf></mirror></mirrors></settings>"
    )
    assert doctor.maven_repository(xml) == "https://mirror.example.com/maven2"
    assert doctor.maven_repository(tmp_path / "absent.xml") == doctor.MAVEN_CENTRAL


def test_missing_wins_over_conflict_in_the_exit_code():
    missing = doctor.Check("java", False, "x", "y", 6)
    taken = doctor.Check("port 1", False, "x", "y", 5)
    assert doctor.exit_code([taken, missing]) == 6 and doctor.exit_code([taken]) == 5
    assert doctor.exit_code([doctor.Check("python", True, "ok")]) == 0


def test_version_shows_the_pinned_components(tmp_path):
    result = run_cli(["--version", "--json"], env(tmp_path))
    pinned = json.loads(result.stdout)
    assert result.code == 0
    assert (pinned["kafka"], pinned["debezium"], pinned["spark"], pinned["beam"]) == (
        versions.KAFKA_VERSION,
        versions.DEBEZIUM_VERSION,
        versions.SPARK_VERSION,
        versions.BEAM_VERSION,
    )
    text = run_cli(["--version"], env(tmp_path)).stdout
    assert f"debezium {versions.DEBEZIUM_VERSION}" in text and f"spark {versions.SPARK_VERSION}" in text


def test_a_java_that_does_not_run_is_a_failed_check_not_a_crash(tmp_path):
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_bytes(b"\x7fELF not really a program")
    java.chmod(0o755)
    result = run_cli(["doctor"], {**env(tmp_path), "JAVA_HOME": str(home)})
    assert result.code == 6, result.output
    line = next(line for line in result.stdout.splitlines() if " java " in f" {line} ")
    assert line.startswith("✗") and "does not run as Java" in line and "Traceback" not in result.output


def test_a_repository_answering_with_an_error_does_not_answer(monkeypatch):
    import requests

    class Answer:
        def __init__(self, status: int) -> None:
            self.status_code = status

    for status, expected in (
        (200, None),
        (404, None),
        (405, None),
        (403, "HTTP 403"),
        (407, "HTTP 407"),
        (502, "HTTP 502"),
    ):
        monkeypatch.setattr(requests, "head", lambda *a, status=status, **k: Answer(status))
        assert doctor.http_reach("https://repo.example.com/") == expected
