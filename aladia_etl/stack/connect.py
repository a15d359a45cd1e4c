"""A Kafka Connect distributed worker with the Debezium PostgreSQL connector on its plugin.path."""

from __future__ import annotations

import shutil
from pathlib import Path

from aladia_etl.stack import jvm
from aladia_etl.stack.artifacts import classpath
from aladia_etl.stack.component import LocalComponent
from aladia_etl.stack.kafka import MAX_RECORD_BYTES
from aladia_etl.stack.probes import ComponentHealth, check_connect
from aladia_etl.stack.secure import SecureFiles, is_secure

INTERNAL_TOPIC_PREFIX = "_aladia_connect"


class LocalConnect(LocalComponent):
    name = "connect"
    label = "Kafka Connect"
    readiness = "list the Debezium PostgreSQL plugin"

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
            # large rows make large change events (see LocalKafka.MAX_RECORD_BYTES)
            "producer.max.request.size": MAX_RECORD_BYTES,
            **(self.secure_properties() if is_secure(self.settings) else {}),
        }

    def secure_properties(self) -> dict[str, object]:
        """The secured stack: the worker and its connectors' clients reach Kafka as aladia's clients do (SASL_SSL),
        and the REST API asks for basic auth (the users file in the data directory's secure/)."""
        client = self.settings.kafka.security.java_properties()
        out: dict[str, object] = dict(client)
        for prefix in ("producer.", "consumer.", "admin."):
            out.update({prefix + key: value for key, value in client.items()})
        out["rest.extension.classes"] = (
            "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
        )
        return out

    def system_properties(self) -> dict[str, str]:
        if not is_secure(self.settings):
            return {}
        return {"java.security.auth.login.config": str(SecureFiles.of(self.settings).connect_jaas)}

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
        self.claim_data_dir()
        self.home.mkdir(parents=True, exist_ok=True)
        self.link_plugins(plugins)
        jvm.write_properties(self.config_file, self.worker_properties())
        log_config = self.home / "log4j2.properties"
        log_config.write_text(jvm.LOG4J2_PROPERTIES)
        cmd = jvm.java_command(
            java,
            self.settings.connect.heap,
            classpath(jars),
            log_config,
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.config_file),
            system=self.system_properties(),
        )
        return self.process.start(cmd, cwd=self.home)

    def health(self) -> ComponentHealth:
        return check_connect(self.settings)
