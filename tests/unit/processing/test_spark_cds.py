"""The Spark driver's class-data archive: written once by a JVM that exits normally, used by later starts, keyed by
the Java runtime and the jars, and only aladia's own files in its directory are ever removed."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from aladia_etl.core.settings import Settings
from aladia_etl.processing.spark import cds


@pytest.fixture
def settings(tmp_path, monkeypatch):
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    return Settings(_env_file=None, data_dir=tmp_path / "data")


def test_the_first_driver_writes_the_archive_on_exit_and_later_ones_use_it(settings, tmp_path):
    jar = tmp_path / "kafka.jar"
    jar.write_bytes(b"jar")
    first = cds.prepare(settings, [jar], "4.2.0")
    assert first is not None and first.part is not None
    assert first.java_options.startswith(f"-XX:ArchiveClassesAtExit={first.part} ")
    assert "-Xlog:cds=off" in first.java_options  # nothing on the user's terminal
    first.part.write_bytes(b"archive")  # what the JVM writes on its exit
    os.replace(first.part, first.archive)
    later = cds.prepare(settings, [jar], "4.2.0")
    assert later == cds.DriverArchive(first.archive, None)
    assert later.java_options.startswith(f"-XX:SharedArchiveFile={first.archive} ")


def test_another_jar_or_spark_makes_another_key_and_the_old_archive_goes(settings, tmp_path):
    jar = tmp_path / "kafka.jar"
    jar.write_bytes(b"jar")
    old = cds.prepare(settings, [jar], "4.2.0")
    assert old is not None
    old.archive.write_bytes(b"archive")
    jar.write_bytes(b"another jar")
    new = cds.prepare(settings, [jar], "4.2.0")
    assert new is not None and new.archive != old.archive and new.part is not None
    assert not old.archive.exists()
    assert cds.prepare(settings, [jar], "4.2.1").archive != new.archive


def test_only_stale_part_files_are_removed_and_nothing_else_in_the_directory(settings, tmp_path):
    home = settings.data_dir / "spark" / "cds"
    home.mkdir(parents=True)
    stale, fresh, other = home / "driver-abc.1.part", home / "driver-abc.2.part", home / "notes.txt"
    for path in (stale, fresh, other):
        path.write_text("x")
    hour_ago = time.time() - cds.STALE_PART_S - 5
    os.utime(stale, (hour_ago, hour_ago))
    cds.prepare(settings, [], "4.2.0")
    assert not stale.exists() and fresh.exists() and other.exists()


def test_without_java_there_is_no_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    assert cds.prepare(Settings(_env_file=None, data_dir=tmp_path), [], "4.2.0") is None


class FakeJvm:
    """The gateway process (the transport), as pyspark holds it."""

    def __init__(self, code: int | None, writes: bytes | None, part):
        self.code, self.writes, self.part = code, writes, part
        self.stdin = SimpleNamespace(closed=False, close=lambda: setattr(self.stdin, "closed", True))

    def wait(self, timeout):
        assert self.stdin.closed, "the JVM exits only once its standard input is closed"
        if self.writes is not None:
            self.part.write_bytes(self.writes)
        if self.code is None:
            import subprocess

            raise subprocess.TimeoutExpired("java", timeout)
        return self.code


@pytest.mark.parametrize(
    ("code", "writes", "kept"),
    [(0, b"archive", True), (1, b"half", False), (0, None, False), (None, b"half", False)],
    ids=["normal exit", "failed exit", "nothing written", "never exits"],
)
def test_the_archive_is_kept_only_when_the_jvm_exited_normally(settings, monkeypatch, code, writes, kept):
    from pyspark import SparkContext

    driver = cds.prepare(settings, [], "4.2.0")
    assert driver is not None and driver.part is not None
    monkeypatch.setattr(SparkContext, "_gateway", SimpleNamespace(proc=FakeJvm(code, writes, driver.part)))
    monkeypatch.setattr(SparkContext, "_jvm", object())
    cds.finish(driver, timeout_s=1)
    assert driver.archive.exists() is kept
    if kept:
        assert driver.archive.read_bytes() == b"archive" and not driver.part.exists()
    elif code is not None:
        assert not driver.part.exists()
    assert SparkContext._gateway is None and SparkContext._jvm is None  # a later session starts a new JVM


def test_a_driver_that_used_the_archive_is_left_alone(settings, monkeypatch):
    from pyspark import SparkContext

    gateway = SimpleNamespace(proc=FakeJvm(0, None, None))
    monkeypatch.setattr(SparkContext, "_gateway", gateway)
    cds.finish(cds.DriverArchive(settings.data_dir / "a.jsa", None))
    assert SparkContext._gateway is gateway and not gateway.proc.stdin.closed
