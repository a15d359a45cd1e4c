"""A class-data-sharing archive for the Spark driver's JVM: the classes Spark loads at start-up, parsed and verified
once and mapped from a file by every later start (works with Java 17's `-XX:ArchiveClassesAtExit`).

The first stream on a machine runs with `-XX:ArchiveClassesAtExit=<part file>`; when it stops, aladia closes the
driver JVM's standard input (how pyspark's gateway is told to exit), waits for it to exit normally — the JVM writes
the archive on exit — and only then renames the part file to the archive. Later streams start with
`-XX:SharedArchiveFile=<archive>`. An archive is keyed by the Java runtime and Spark's jars: any change makes a new
key, and the archives of other keys are removed. A JVM that cannot use an archive ignores it (`-Xshare:auto`, the
default), silently: its CDS log is off. Everything lives in `<data dir>/spark/cds`, which aladia creates.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aladia_etl.core.settings import Settings

log = logging.getLogger("aladia.spark")
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off -Xlog:class+path=off"
STALE_PART_S = 3600  # a part file this old belongs to a run killed while writing it


@dataclass(frozen=True)
class DriverArchive:
    """What this driver JVM does with the archive: use it, or write it on exit (`part` then becomes `archive`)."""

    archive: Path
    part: Path | None

    @property
    def java_options(self) -> str:
        if self.part is None:
            return f"-XX:SharedArchiveFile={self.archive} {QUIET}"
        return f"-XX:ArchiveClassesAtExit={self.part} {QUIET}"


def java_executable() -> Path | None:
    """The `java` spark-submit runs: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(p) if (p := shutil.which("java")) else None)
    return found.resolve() if found is not None and found.exists() else None


def archive_key(java: Path, jars: list[Path], spark_version: str) -> str:
    """Changes whenever the JVM or a jar on the driver's class path changes (path, size, modification time)."""
    import pyspark

    spark_jars = sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))
    digest = hashlib.sha256(spark_version.encode())
    for path in [java, *spark_jars, *jars]:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def prepare(settings: Settings, jars: list[Path], spark_version: str) -> DriverArchive | None:
    """The archive this driver uses, or writes on exit; None without a `java` to key it by."""
    java = java_executable()
    if java is None:
        return None
    home = settings.data_dir / "spark" / "cds"
    home.mkdir(parents=True, exist_ok=True)
    key = archive_key(java, jars, spark_version)
    archive = home / f"driver-{key}.jsa"
    now = time.time()
    for old in home.glob("driver-*.jsa"):
        if old != archive:
            old.unlink(missing_ok=True)  # another Java or Spark: never used again
    for part in home.glob("driver-*.part"):
        if now - part.stat().st_mtime > STALE_PART_S:
            part.unlink(missing_ok=True)
    if archive.is_file():
        return DriverArchive(archive, None)
    return DriverArchive(archive, home / f"driver-{key}.{uuid.uuid4().hex[:8]}.part")


def finish(driver: DriverArchive | None, timeout_s: float = 120) -> None:
    """After the session stopped: let a JVM that writes the archive exit and keep what it wrote (a JVM that did
    not exit normally leaves nothing behind)."""
    if driver is None or driver.part is None:
        return
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    if proc is None:
        return
    log.info("writing the Spark driver's class-data archive (once per Java and Spark): later starts are faster")
    try:
        if proc.stdin is not None:
            proc.stdin.close()  # pyspark's gateway exits when its standard input closes
        code = proc.wait(timeout=timeout_s)
    except Exception:  # the archive is an optimisation: whatever fails, the stream's outcome stands
        log.debug("the driver JVM did not exit after its session stopped; no class-data archive", exc_info=True)
        return
    finally:
        SparkContext._gateway = None  # a later session in this process starts a new JVM
        SparkContext._jvm = None
    if code == 0 and driver.part.is_file() and driver.part.stat().st_size > 0:
        os.replace(driver.part, driver.archive)
        log.debug("class-data archive for the Spark driver written: %s", driver.archive)
    else:
        driver.part.unlink(missing_ok=True)
