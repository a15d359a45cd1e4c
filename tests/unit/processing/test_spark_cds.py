"""The Spark driver's class-data archive: written once by a JVM that exits normally after real work, used by later
starts only while it has the size it was written with, never for a driver HotSpot cannot dump (agents, patched
modules, another Spark layout), and only aladia's own files in its directory are ever removed."""

from __future__ import annotations

import os
import subprocess
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


def prepare(settings, jars=(), version="4.2.0", conf=None, environ=None):
    return cds.prepare(settings, list(jars), version, conf or {}, environ or {})


def written(driver: cds.DriverArchive, content: bytes = b"archive") -> cds.DriverArchive:
    """What `finish` leaves after a JVM wrote `content` and exited normally."""
    assert driver.part is not None
    final = driver.part.with_name(f"driver-{driver.key}-{len(content)}.jsa")
    final.write_bytes(content)
    return cds.DriverArchive(final, None, driver.key)


def test_the_first_driver_writes_the_archive_on_exit_and_later_ones_use_it(settings, tmp_path):
    jar = tmp_path / "kafka.jar"
    jar.write_bytes(b"jar")
    first = prepare(settings, [jar])
    assert first is not None and first.part is not None and first.archive is None
    assert first.java_options.startswith(f'"-XX:ArchiveClassesAtExit={first.part}" ')
    assert "-Xlog:cds*=off" in first.java_options  # nothing on the user's terminal
    done = written(first)
    assert prepare(settings, [jar]) == done
    assert done.java_options.startswith(f'"-XX:SharedArchiveFile={done.archive}" ')


def test_an_archive_that_lost_bytes_is_removed_not_used(settings):
    """A truncated archive crashes the JVM (SIGBUS): its name holds the size it was written with."""
    done = written(prepare(settings), b"complete archive")
    assert done.archive is not None
    done.archive.write_bytes(b"complete")  # cut short (a copy, a crash before the data reached the disk)
    again = prepare(settings)
    assert again is not None and again.part is not None and not done.archive.exists()


def test_another_jar_spark_or_driver_setting_makes_another_key_and_the_old_archive_goes(settings, tmp_path):
    jar = tmp_path / "kafka.jar"
    jar.write_bytes(b"jar")
    old = written(prepare(settings, [jar]))
    jar.write_bytes(b"another jar")
    new = prepare(settings, [jar])
    assert new is not None and new.key != old.key and new.part is not None
    assert old.archive is not None and not old.archive.exists()
    assert prepare(settings, [jar], version="4.2.1").key != new.key
    assert prepare(settings, [jar], conf={"spark.driver.memory": "40g"}).key != new.key
    assert prepare(settings, [jar], conf={"spark.sql.shuffle.partitions": "8"}).key == new.key


@pytest.mark.parametrize(
    ("conf", "environ"),
    [
        ({"spark.driver.extraJavaOptions": "-agentlib:jdwp=transport=dt_socket,server=y"}, {}),
        ({"spark.driver.defaultJavaOptions": "-javaagent:/opt/otel.jar"}, {}),
        ({}, {"JAVA_TOOL_OPTIONS": "-javaagent:/opt/apm.jar"}),
        ({"spark.driver.extraJavaOptions": "--patch-module java.base=x.jar"}, {}),
        ({"spark.driver.extraJavaOptions": "-Xshare:off"}, {}),
        ({}, {"SPARK_HOME": "/opt/spark"}),
        ({}, {"SPARK_CONF_DIR": "/etc/spark"}),
        ({"spark.driver.extraClassPath": "/opt/conf"}, {}),
    ],
)
def test_a_driver_hotspot_cannot_dump_gets_no_archive(settings, conf, environ):
    assert prepare(settings, conf=conf, environ=environ) is None
    assert not (settings.data_dir / "spark" / "cds").exists()


def test_only_stale_part_files_and_other_keys_archives_are_removed(settings):
    home = settings.data_dir / "spark" / "cds"
    home.mkdir(parents=True)
    stale, fresh, other = home / "driver-abc.1.part", home / "driver-abc.2.part", home / "notes.txt"
    for path in (stale, fresh, other):
        path.write_text("x")
    hour_ago = time.time() - cds.STALE_PART_S - 5
    os.utime(stale, (hour_ago, hour_ago))
    prepare(settings)
    assert not stale.exists() and fresh.exists() and other.exists()


def test_without_java_there_is_no_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    assert prepare(Settings(_env_file=None, data_dir=tmp_path)) is None


def test_a_data_directory_that_cannot_be_written_means_no_archive_not_a_failed_start(settings):
    (settings.data_dir / "spark").mkdir(parents=True)
    (settings.data_dir / "spark" / "cds").write_text("a file where the directory should be")
    assert prepare(settings) is None


class FakeJvm:
    """The gateway process (the transport), as pyspark holds it."""

    def __init__(self, code: int | None, writes: bytes | None, part):
        self.code, self.writes, self.part, self.killed = code, writes, part, False
        self.stdin = SimpleNamespace(closed=False, close=lambda: setattr(self.stdin, "closed", True))

    def kill(self):
        self.killed = True

    def wait(self, timeout):
        if self.killed:
            return -9
        assert self.stdin.closed, "the JVM exits only once its standard input is closed"
        if self.writes is not None:
            self.part.write_bytes(self.writes)
        if self.code is None:
            raise subprocess.TimeoutExpired("java", timeout)
        return self.code


def gateway_of(jvm: FakeJvm):
    return SimpleNamespace(proc=jvm, shutdown=lambda: None)


@pytest.mark.parametrize(
    ("code", "writes", "keep", "kept"),
    [
        (0, b"archive", True, True),
        (1, b"half", True, False),
        (0, None, True, False),
        (None, b"half", True, False),
        (0, b"archive", False, False),
    ],
    ids=["normal exit", "failed exit", "nothing written", "never exits", "no batch applied"],
)
def test_the_archive_is_kept_only_after_real_work_and_a_normal_exit(settings, monkeypatch, code, writes, keep, kept):
    from pyspark import SparkContext

    driver = prepare(settings)
    assert driver is not None and driver.part is not None
    jvm = FakeJvm(code, writes, driver.part)
    monkeypatch.setattr(SparkContext, "_gateway", gateway_of(jvm))
    monkeypatch.setattr(SparkContext, "_jvm", object())
    cds.finish(driver, keep=keep, timeout_s=1)
    archives = list(driver.part.parent.glob("driver-*.jsa"))
    assert bool(archives) is kept
    if kept:
        assert archives[0].read_bytes() == b"archive" and not driver.part.exists()
        assert prepare(settings) == cds.DriverArchive(archives[0], None, driver.key)
    elif code is not None:
        assert not driver.part.exists()
    assert jvm.killed is not keep
    assert SparkContext._gateway is None and SparkContext._jvm is None  # a later session starts a new JVM


def test_a_driver_that_used_the_archive_is_left_alone(settings, monkeypatch):
    from pyspark import SparkContext

    gateway = gateway_of(FakeJvm(0, None, None))
    monkeypatch.setattr(SparkContext, "_gateway", gateway)
    cds.finish(cds.DriverArchive(settings.data_dir / "a.jsa", None, "k"), keep=True)
    assert SparkContext._gateway is gateway and not gateway.proc.stdin.closed


def test_the_drivers_options_put_the_users_last_where_the_jvm_takes_them(tmp_path):
    """aladia's C1-only default is one the user can undo: the JVM keeps the last value of an option given twice."""
    from aladia_etl.processing.spark.session import DRIVER_JIT, driver_java_options

    archive = cds.DriverArchive(tmp_path / "driver-k-1.jsa")
    options = driver_java_options(tmp_path / "log4j2.properties", archive, "-XX:TieredStopAtLevel=4")
    assert options.index(archive.java_options) < options.index(DRIVER_JIT) < options.index("TieredStopAtLevel=4")
    assert driver_java_options(tmp_path / "l", None).endswith(DRIVER_JIT)
    java = cds.java_executable()  # the one spark-submit runs
    assert java, "java is needed (Java 17+)"

    def level(*flags: str) -> str:
        run = [str(java), *flags, "-XX:+PrintFlagsFinal", "-version"]
        out = subprocess.run(run, capture_output=True, text=True, timeout=60)
        found = [line.split()[3] for line in out.stdout.splitlines() if " TieredStopAtLevel " in line]
        assert found, f"{java} does not report TieredStopAtLevel: {out.stderr[-500:]}"
        return found[0]

    assert level(DRIVER_JIT) == "1"
    assert level(DRIVER_JIT, "-XX:TieredStopAtLevel=4") == "4"
