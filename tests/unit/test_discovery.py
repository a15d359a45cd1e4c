"""Binary and port discovery: the errors a user sees when something is missing or taken."""

from __future__ import annotations

import socket
import stat

import pytest

from aladia_etl.core.errors import ExitCode, MissingDependency, PortInUse
from aladia_etl.stack import binaries
from aladia_etl.stack.process import ensure_port_free, port_is_open


def test_pg_bin_dir_configured_but_empty(tmp_path):
    with pytest.raises(MissingDependency) as info:
        binaries.find_pg_bin_dir(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "ALADIA_POSTGRES__BIN_DIR" in str(info.value)
    assert info.value.exit_code == ExitCode.MISSING_DEPENDENCY


def test_pg_bin_dir_found_when_configured(tmp_path):
    for name in binaries.PG_PROGRAMS:
        (tmp_path / name).write_text("#!/bin/sh\n")
    assert binaries.find_pg_bin_dir(tmp_path) == tmp_path


def test_pg_binaries_missing_everywhere(monkeypatch):
    monkeypatch.setattr(binaries, "pg_bin_candidates", lambda: [])
    with pytest.raises(MissingDependency) as info:
        binaries.find_pg_bin_dir()
    assert "apt-get install postgresql" in str(info.value)


def test_no_java(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency) as info:
        binaries.find_java()
    assert "Java" in str(info.value) and "17" in str(info.value)


def test_too_old_java(monkeypatch, tmp_path):
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(MissingDependency) as info:
        binaries.find_java()
    assert "Java 11" in str(info.value)


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_372"', 8),
        ('openjdk version "21" x', 21),
        ("garbage", None),
    ],
)
def test_parse_java_version(text, major):
    assert binaries.parse_java_version(text) == major


def test_port_in_use_is_reported_with_the_setting():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_is_open("127.0.0.1", port)
        with pytest.raises(PortInUse) as info:
            ensure_port_free("kafka", "127.0.0.1", port, "ALADIA_KAFKA__BOOTSTRAP_SERVERS")
    assert f"port {port}" in str(info.value)
    assert "ALADIA_KAFKA__BOOTSTRAP_SERVERS" in str(info.value)
    assert info.value.exit_code == ExitCode.CONFLICT


def test_free_port_passes():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ensure_port_free("kafka", "127.0.0.1", port, "X")
