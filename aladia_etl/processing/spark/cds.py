"""A class-data-sharing archive for the Spark driver's JVM: the classes Spark loads at start-up, parsed and verified
once and mapped from a file by every later start (works with Java 17's `-XX:ArchiveClassesAtExit`).

The first stream on a machine runs with `-XX:ArchiveClassesAtExit=<part file>`. When it stops after applying at
least one batch, aladia detaches pyspark from the driver JVM, closes the JVM's standard input (how pyspark's gateway
is told to exit) and waits for it to exit normally — the JVM writes the archive on exit — then syncs the file and
renames it to `driver-<key>-<size>.jsa`. Later starts map it with `-XX:SharedArchiveFile`, after checking that the
file still has the size it was written with (a truncated archive would crash the JVM, not be ignored).

Only a driver started the way aladia starts it gets an archive: HotSpot refuses to dump with an agent or a patched
module, and a non-empty directory on the class path (a Spark distribution's conf/) makes the dump fail, so any
such option or setting (see `_conflicts`) means no archive at all. The key covers the `java` binary, Spark's jars
and the driver's own Spark settings; archives of other keys are removed. Everything lives in
`<data dir>/spark/cds`, which aladia creates.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aladia_etl.core.settings import Settings

log = logging.getLogger("aladia.spark")
QUIET = "-Xlog:cds*=off -Xlog:class+path=off"
STALE_PART_S = 3600  # a part file this old belongs to a run killed while writing it
# Options with which HotSpot cannot dump or use an archive, or that choose another one.
REFUSED = (
    "-javaagent",
    "-agentlib",
    "-agentpath",
    "-Xrun",
    "--patch-module",
    "--limit-modules",
    "--upgrade-module-path",
    "-Xshare",
    "SharedArchiveFile",
    "ArchiveClassesAtExit",
    "AutoCreateSharedArchive",
)
JAVA_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "SPARK_SUBMIT_OPTS", "_JAVA_OPTIONS")
# Another Spark layout or class path than pyspark's own jars (a conf/ directory on the class path fails the dump).
CLASS_PATH_VARIABLES = ("SPARK_HOME", "SPARK_CONF_DIR", "SPARK_DIST_CLASSPATH")


@dataclass(frozen=True)
class DriverArchive:
    """What this driver JVM does with the archive: use `archive`, or write `part` on exit (named by `key`)."""

    archive: Path | None
    part: Path | None = None
    key: str = ""

    @property
    def java_options(self) -> str:
        if self.part is None:
            return f'"-XX:SharedArchiveFile={self.archive}" {QUIET}'
        return f'"-XX:ArchiveClassesAtExit={self.part}" {QUIET}'


def java_executable() -> Path | None:
    """The `java` spark-submit runs: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(p) if (p := shutil.which("java")) else None)
    return found.resolve() if found is not None and found.exists() else None


def _conflicts(conf: Mapping[str, str], environ: Mapping[str, str]) -> str | None:
    """Why this driver gets no archive (None: it can have one)."""
    options = " ".join(
        [conf.get("spark.driver.extraJavaOptions", ""), conf.get("spark.driver.defaultJavaOptions", "")]
        + [environ.get(name, "") for name in JAVA_OPTION_VARIABLES]
    )
    refused = next((option for option in REFUSED if option in options), None)
    if refused:
        return f"the driver's Java options hold {refused}"
    variable = next((name for name in CLASS_PATH_VARIABLES if environ.get(name)), None)
    if variable:
        return f"{variable} is set"
    if conf.get("spark.driver.extraClassPath"):
        return "spark.driver.extraClassPath is set"
    return None


def archive_key(java: Path, jars: list[Path], spark_version: str, conf: Mapping[str, str]) -> str:
    """Changes whenever the JVM, a jar of the driver or one of its Spark settings changes."""
    import pyspark

    spark_jars = sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))
    digest = hashlib.sha256(spark_version.encode())
    for path in [java, *spark_jars, *jars]:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for name, value in sorted(conf.items()):
        if name.startswith("spark.driver."):  # e.g. the driver's memory decides the JVM's base archive
            digest.update(f"{name}={value}\n".encode())
    return digest.hexdigest()[:16]


def prepare(
    settings: Settings, jars: list[Path], spark_version: str, conf: Mapping[str, str], environ: Mapping[str, str]
) -> DriverArchive | None:
    """The archive this driver uses, or writes on exit; None when it cannot have one (best effort: an archive only
    makes the start faster)."""
    java = java_executable()
    why = "no java found" if java is None else _conflicts(conf, environ)
    if java is None or why:
        log.debug("no class-data archive for the Spark driver: %s", why)
        return None
    try:
        return _prepare(settings.data_dir / "spark" / "cds", archive_key(java, jars, spark_version, conf))
    except OSError as exc:
        log.debug("no class-data archive for the Spark driver: %s", exc)
        return None


def _prepare(home: Path, key: str) -> DriverArchive:
    home.mkdir(parents=True, exist_ok=True)
    usable: Path | None = None
    for found in home.glob("driver-*.jsa"):
        name, _, size = found.stem.rpartition("-")
        with contextlib.suppress(FileNotFoundError):
            if name == f"driver-{key}" and size.isdigit() and found.stat().st_size == int(size) > 0:
                usable = found
                continue
            found.unlink()  # another key (Java, Spark, settings), or not the size it was written with
    for part in home.glob("driver-*.part"):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - part.stat().st_mtime > STALE_PART_S:
                part.unlink()
    if usable is not None:
        return DriverArchive(usable, None, key)
    return DriverArchive(None, home / f"driver-{key}.{uuid.uuid4().hex[:8]}.part", key)


def finish(driver: DriverArchive | None, keep: bool, timeout_s: float = 120) -> None:
    """After the session stopped: let a JVM that writes the archive exit, and keep what it wrote when the stream
    did real work (`keep`) and the JVM exited normally. Never raises: the stream's outcome stands."""
    if driver is None or driver.part is None:
        return
    from pyspark import SparkContext

    with SparkContext._lock:
        gateway = SparkContext._gateway
        SparkContext._gateway = None  # detached first: a later session in this process starts a JVM of its own
        SparkContext._jvm = None
    proc = getattr(gateway, "proc", None)
    if gateway is None or proc is None:
        return
    try:
        with contextlib.suppress(Exception):
            gateway.shutdown()
        if not keep:  # nothing worth keeping (a start that failed): no waiting for a dump
            proc.kill()
            proc.wait(timeout=timeout_s)
            driver.part.unlink(missing_ok=True)
            return
        log.info("writing the Spark driver's class-data archive (once per Java and Spark): later starts are faster")
        if proc.stdin is not None:
            proc.stdin.close()  # pyspark's gateway exits when its standard input closes
        code = proc.wait(timeout=timeout_s)
        if code == 0 and driver.part.is_file() and (size := driver.part.stat().st_size) > 0:
            with driver.part.open("rb") as written:
                os.fsync(written.fileno())
            os.replace(driver.part, driver.part.with_name(f"driver-{driver.key}-{size}.jsa"))
            with contextlib.suppress(OSError):
                directory = os.open(driver.part.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
            log.debug("class-data archive for the Spark driver written (%d bytes)", size)
            return
    except Exception:  # the archive is an optimisation: whatever fails, the stream's outcome stands
        log.debug("no class-data archive for the Spark driver", exc_info=True)
        return
    driver.part.unlink(missing_ok=True)
