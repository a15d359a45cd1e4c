"""`aladia up --docker`: the same stack from compose/docker-compose.yml, when a Docker engine is reachable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from aladia_etl.core.errors import ComponentFailed, MissingDependency, ServiceUnavailable
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings


def compose_file() -> Path:
    """compose/docker-compose.yml of the source tree (the package is installed editable from it)."""
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = base / "compose" / "docker-compose.yml"
        if candidate.is_file():
            return candidate
    raise MissingDependency(
        "compose/docker-compose.yml not found next to the aladia sources or in the current directory",
        "run from a clone of the aladia repository",
    )


class DockerStack:
    def __init__(self, settings: Settings, reporter: Reporter = SILENT) -> None:
        self.settings = settings
        self.reporter = reporter

    def _docker(self) -> str:
        docker = shutil.which("docker")
        if not docker:
            raise MissingDependency(
                "the docker CLI is not installed",
                "install Docker, or run 'aladia up' without --docker to start the local stack of processes",
            )
        probe = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode != 0 or not probe.stdout.strip():
            reason = (probe.stderr.strip().splitlines() or ["no answer"])[-1]
            raise ServiceUnavailable(
                f"no Docker engine is reachable ({reason})",
                "start the Docker engine, or run 'aladia up' without --docker to start the local stack",
            )
        return docker

    def up(self, timeout: float = 300) -> None:
        docker = self._docker()
        cmd = [docker, "compose", "-f", str(compose_file()), "up", "-d", "--wait", "--wait-timeout", str(int(timeout))]
        with self.reporter.task("docker compose up (pulling images on first use)"):
            result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise ComponentFailed(
                "docker compose up failed", "see the output below", detail=(result.stdout + result.stderr)[-3000:]
            )

    def down(self, purge: bool = False) -> None:
        docker = self._docker()
        cmd = [docker, "compose", "-f", str(compose_file()), "down"] + (["-v"] if purge else [])
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise ComponentFailed(
                "docker compose down failed", "see the output below", detail=(result.stdout + result.stderr)[-3000:]
            )
