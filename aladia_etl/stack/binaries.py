"""Finding the programs the local stack runs: Java and the PostgreSQL server binaries."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from aladia_etl.core import versions
from aladia_etl.core.errors import MissingDependency

PG_PROGRAMS = ("initdb", "postgres", "pg_ctl")


def find_java() -> Path:
    """The java binary (JAVA_HOME first, then PATH), checked to be Java 17 or newer."""
    candidates = []
    if java_home := os.environ.get("JAVA_HOME"):
        candidates.append(Path(java_home) / "bin" / "java")
    if on_path := shutil.which("java"):
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            major = java_major_version(candidate)
            if major is None:
                raise MissingDependency(
                    f"{candidate} does not run as Java ('java -version' failed or printed no version)",
                    f"install Java {versions.MIN_JAVA_MAJOR}+ and point JAVA_HOME (or PATH) at it",
                )
            if major >= versions.MIN_JAVA_MAJOR:
                return candidate
            raise MissingDependency(
                f"Java {major} found at {candidate}, but Kafka {versions.KAFKA_VERSION} needs Java "
                f"{versions.MIN_JAVA_MAJOR}+",
                f"install Java {versions.MIN_JAVA_MAJOR} or newer and put it on PATH or in JAVA_HOME",
            )
    raise MissingDependency(
        "Java is not installed (no java in JAVA_HOME or on PATH)",
        f"install Java {versions.MIN_JAVA_MAJOR}+ (e.g. 'apt-get install openjdk-17-jre-headless')",
    )


def parse_java_version(text: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def java_major_version(java: Path) -> int | None:
    """Its major version, or None when it does not run as Java (not a program, hangs, prints no version)."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_version(out.stderr + out.stdout)


def _has_pg_programs(directory: Path) -> bool:
    return all((directory / name).is_file() for name in PG_PROGRAMS)


def pg_bin_candidates() -> list[Path]:
    """Where PostgreSQL server binaries may live, in the order they are tried."""
    candidates: list[Path] = []
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except OSError:
            pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates.extend(Path(p) for p in found)
    return candidates


def _version_key(path: str) -> float:
    match = re.search(r"/postgresql/(\d+(?:\.\d+)?)/", path)
    return float(match.group(1)) if match else 0.0


def find_pg_bin_dir(configured: Path | None = None) -> Path:
    if configured:
        if _has_pg_programs(configured):
            return configured
        raise MissingDependency(
            f"no PostgreSQL server binaries (initdb, postgres, pg_ctl) in {configured}",
            "point ALADIA_POSTGRES__BIN_DIR at the directory holding initdb and postgres",
        )
    for directory in pg_bin_candidates():
        if _has_pg_programs(directory):
            return directory
    raise MissingDependency(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH, via pg_config or in /usr/lib/postgresql",
        "install the server (e.g. 'apt-get install postgresql') or set ALADIA_POSTGRES__BIN_DIR",
    )
