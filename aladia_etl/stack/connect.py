"""A Kafka Connect distributed worker with the Debezium PostgreSQL connector on its plugin.path."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from aladia_etl.errors import ComponentFailed
from aladia_etl.health.checks import ComponentHealth, check_connect
from aladia_etl.reporting import SILENT, Reporter
from aladia_etl.settings import Settings
from aladia_etl.stack import jvm
from aladia_etl.stack.process import ManagedProcess

INTERNAL_TOPIC_PREFIX = "_aladia_connect"


class LocalConnect:
    name = "connect"

    def __init__(self, settings: Settings, reporter: Reporter = SILENT) -> None:
        self.settings = settings
        self.reporter = reporter
        self.home = settings.data_dir / "connect"
        self.process = ManagedProcess(self.name, settings.state_dir / "connect.pid", settings.logs_dir / "connect.log")

    @property
    def plugin_dir(self) -> Path:
        return self.home / "plugins"

    @property
    def config_file(self) -> Path:
        return self.home / "connect-distributed.properties"

    def worker_properties(self) -> dict[str, object]:
        c = self.settings.connect
        return {
            "bootstrap.servers": self.settings.kafka.bootstrap_servers,
            "group.id": "aladia-connect",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "config.storage.topic": f"{INTERNAL_TOPIC_PREFIX}_configs",
            "offset.storage.topic": f"{INTERNAL_TOPIC_PREFIX}_offsets",
            "status.storage.topic": f"{INTERNAL_TOPIC_PREFIX}_status",
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "offset.storage.partitions": 5,
            "status.storage.partitions": 1,
            "offset.flush.interval.ms": 1000,
            "listeners": f"http://{c.host}:{c.port}",
            "rest.advertised.host.name": c.host,
            "rest.advertised.port": c.port,
            "plugin.path": self.plugin_dir,
            "plugin.discovery": "hybrid_warn",
        }

    def link_plugins(self, plugins: dict[str, Path]) -> None:
        """Expose each resolved plugin bundle as <plugin_dir>/<name> (a symlink into the artifact cache)."""
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        for existing in self.plugin_dir.iterdir():
            if existing.name not in plugins:
                existing.unlink() if existing.is_symlink() else shutil.rmtree(existing)
        for name, target in plugins.items():
            link = self.plugin_dir / name
            if link.is_symlink() and link.resolve() == target.resolve():
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target, target_is_directory=True)

    def start(self, java: Path, jars: list[Path], plugins: dict[str, Path]) -> int:
        self.home.mkdir(parents=True, exist_ok=True)
        self.link_plugins(plugins)
        jvm.write_properties(self.config_file, self.worker_properties())
        log_config = self.home / "log4j2.properties"
        log_config.write_text(jvm.LOG4J2_PROPERTIES)
        cmd = jvm.java_command(
            java,
            self.settings.connect.heap,
            ":".join(str(j) for j in jars),
            log_config,
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.config_file),
        )
        return self.process.start(cmd, cwd=self.home)

    def health(self) -> ComponentHealth:
        return check_connect(self.settings)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        health = None
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise self._failure("exited during start-up")
            health = self.health()
            if health.healthy:
                return
            time.sleep(0.5)
        raise self._failure(
            f"did not list the Debezium PostgreSQL plugin within {timeout:.0f} s ({health.detail if health else ''})"
        )

    def stop(self, timeout: float = 30) -> bool:
        return self.process.stop(timeout=timeout)

    def purge(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def _failure(self, what: str) -> ComponentFailed:
        return ComponentFailed(
            f"Kafka Connect {what}; log: {self.process.log_file}",
            "read the log lines below, fix the cause, then run 'aladia up' again",
            detail=self.process.tail(15),
        )
