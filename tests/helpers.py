"""Test helpers: run the real `aladia` CLI in a subprocess against a given environment."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def env_for(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADIA_")}
    env.update(settings_env)
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600, cwd: Path | None = None) -> CliResult:
    proc = subprocess.run(
        [sys.executable, "-m", "aladia_etl", *args],
        env=env_for(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def settings_env(
    data_dir: Path, cache_dir: Path, pg_port: int, kafka_port: int, controller_port: int, connect_port: int
) -> dict[str, str]:
    return {
        "ALADIA_DATA_DIR": str(data_dir),
        "ALADIA_CACHE_DIR": str(cache_dir),
        "ALADIA_POSTGRES__PORT": str(pg_port),
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "ALADIA_KAFKA__CONTROLLER_PORT": str(controller_port),
        "ALADIA_CONNECT__URL": f"http://127.0.0.1:{connect_port}",
        # A short heartbeat: the idle-slot test sees the slot's position move within seconds.
        "ALADIA_CDC__HEARTBEAT_INTERVAL_MS": "1000",
    }


@contextlib.contextmanager
def fresh_database(settings, name: str):
    """An empty database `name` on the stack's server for the block's duration (dropped before and after)."""
    import psycopg

    def drop(then_create: bool) -> None:
        with psycopg.connect(**settings.postgres.conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if then_create:
                admin.execute(f"CREATE DATABASE {name}")

    drop(then_create=True)
    try:
        yield name
    finally:
        drop(then_create=False)


def artifact_cache() -> Path:
    """JVM artifacts are shared between test sessions (resolved once with Maven)."""
    path = Path(os.environ.get("ALADIA_TEST_CACHE_DIR", Path.home() / ".cache" / "aladia-test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
