"""Artifact resolution errors, with a fake `mvn` (the transport), not a faked method."""

from __future__ import annotations

import stat

import pytest

from aladia_etl.core.errors import ExitCode, MissingDependency
from aladia_etl.stack.artifacts import ArtifactStore, Bundle

BUNDLE = Bundle("demo-1", ("org.example:demo:1",), description="Demo 1")


def fake_mvn(tmp_path, script: str):
    path = tmp_path / "mvn"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_no_maven_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency) as info:
        ArtifactStore(tmp_path / "cache").resolve(BUNDLE)
    assert "Maven (mvn) is not on PATH" in str(info.value)
    assert info.value.exit_code == ExitCode.MISSING_DEPENDENCY


def test_resolution_failure_names_the_bundle_and_maven_s_reason(tmp_path):
    mvn = fake_mvn(
        tmp_path,
        'echo "[INFO] Scanning"\necho "[ERROR] Could not find artifact org.example:demo:jar:1"\n'
        'echo "[ERROR] "\nexit 1\n',
    )
    store = ArtifactStore(tmp_path / "cache", mvn=mvn)
    with pytest.raises(MissingDependency) as info:
        store.resolve(BUNDLE)
    assert "could not resolve Demo 1 with Maven: Could not find artifact org.example:demo:jar:1" in str(info.value)
    assert not store.is_resolved(BUNDLE)
    assert not store.path(BUNDLE).exists()  # nothing half-written


def test_resolved_once_then_cached(tmp_path):
    calls = tmp_path / "calls"
    mvn = fake_mvn(
        tmp_path,
        f'echo call >> {calls}\nfor a in "$@"; do case "$a" in -DoutputDirectory=*) '
        'd="${a#-DoutputDirectory=}"; mkdir -p "$d"; touch "$d/demo-1.jar";; esac; done\n',
    )
    store = ArtifactStore(tmp_path / "cache", mvn=mvn)
    first = store.jars(BUNDLE)
    second = store.jars(BUNDLE)
    assert [j.name for j in first] == ["demo-1.jar"] and first == second
    assert calls.read_text().count("call") == 1
