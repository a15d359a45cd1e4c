"""`aladia up` / `down` / `status` for the local stack of real processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.stack import secure
from aladia_etl.stack.artifacts import (
    ArtifactStore,
    debezium_jdbc_bundle,
    debezium_postgres_bundle,
    kafka_bundle,
)
from aladia_etl.stack.binaries import find_java, find_pg_bin_dir
from aladia_etl.stack.connect import LocalConnect
from aladia_etl.stack.kafka import LocalKafka
from aladia_etl.stack.ownership import check_data_dir, claim_data_dir, remove_tree
from aladia_etl.stack.postgres import LocalPostgres
from aladia_etl.stack.probes import ComponentHealth, wait_connectors_running
from aladia_etl.stack.process import ensure_port_free
from aladia_etl.stack.secure import is_secure

DEBEZIUM_PLUGIN_NAME = "debezium-connector-postgres"
JDBC_SINK_PLUGIN_NAME = "debezium-connector-jdbc"


@dataclass
class UpResult:
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    databases_created: list[str] = field(default_factory=list)
    health: list[ComponentHealth] = field(default_factory=list)
    connectors: dict[str, str] = field(default_factory=dict)  # name -> "RUNNING" or what it was left at


class LocalStack:
    def __init__(self, settings: Settings, reporter: Reporter = SILENT) -> None:
        self.settings = settings
        self.reporter = reporter
        self.artifacts = ArtifactStore(settings.artifacts_dir, reporter)
        self.postgres = LocalPostgres(settings, reporter)
        self.kafka = LocalKafka(settings, reporter)
        self.connect = LocalConnect(settings, reporter)

    @property
    def components(self) -> list[LocalPostgres | LocalKafka | LocalConnect]:
        return [self.postgres, self.kafka, self.connect]

    def ports(self, component) -> list[tuple[str, int, str]]:
        s = self.settings
        if component is self.postgres:
            return [(s.postgres.host, s.postgres.port, "ALADIA_POSTGRES__PORT")]
        if component is self.kafka:
            return [
                (s.kafka.host, s.kafka.port, "ALADIA_KAFKA__BOOTSTRAP_SERVERS"),
                (s.kafka.host, s.kafka.controller_port, "ALADIA_KAFKA__CONTROLLER_PORT"),
            ]
        return [(s.connect.host, s.connect.port, "ALADIA_CONNECT__URL")]

    def secure(self) -> bool:
        """Make this data directory's stack a secured one (`stack.secure`): its CA, certificates, passwords and client
        settings, generated once. Returns whether they were made now; the caller reloads its settings."""
        claim_data_dir(self.settings.data_dir, self.reporter)
        plain = not is_secure(self.settings) and (self.postgres.is_initialized() or self.kafka.is_formatted())
        return secure.create(self.settings, plain_stack_exists=plain)

    def up(self, timeout: float = 180) -> UpResult:
        result = UpResult()
        claim_data_dir(self.settings.data_dir, self.reporter)
        to_start = [c for c in self.components if not c.process.is_running()]
        result.already_running = [c.name for c in self.components if c not in to_start]

        # Everything that can fail before a process exists is checked first: nothing is left half-started.
        java = find_java() if any(c is not self.postgres for c in to_start) else None
        if self.postgres in to_start:
            find_pg_bin_dir(self.settings.postgres.bin_dir)
        kafka_jars = self.artifacts.jars(kafka_bundle(self.settings.versions.kafka))
        plugins = {
            DEBEZIUM_PLUGIN_NAME: self.artifacts.resolve(debezium_postgres_bundle(self.settings.versions.debezium)),
            # The JDBC sink is there for `aladia bench` (a peer to compare the engines with).
            JDBC_SINK_PLUGIN_NAME: self.artifacts.resolve(debezium_jdbc_bundle()),
        }
        for component in to_start:
            for host, port, setting in self.ports(component):
                ensure_port_free(component.name, host, port, setting)

        started = []
        try:
            for component in self.components:
                if component in to_start:
                    self.reporter.info(f"starting {component.name}")
                    if component is self.postgres:
                        self.postgres.start()
                    else:
                        assert java is not None  # found above, since a JVM component is to start
                        if component is self.kafka:
                            self.kafka.start(java, kafka_jars)
                        else:
                            self.connect.start(java, kafka_jars, plugins)
                    started.append(component)
                    with self.reporter.task(f"waiting for {component.name} to serve"):
                        component.wait_ready(timeout)
                    self.reporter.success(f"{component.name} is ready")
                else:
                    component.wait_ready(timeout)
                if component is self.postgres:
                    result.databases_created = self.postgres.ensure_databases()
        except BaseException:
            for component in reversed(started):
                component.stop()
            raise
        result.started = [c.name for c in started]
        if started:  # connectors registered before: wait until Connect has them (and their tasks) RUNNING again
            with self.reporter.task("waiting for the registered connectors and their tasks to run"):
                result.connectors = wait_connectors_running(self.settings, timeout)
        result.health = self.status()
        return result

    def down(self, purge: bool = False, timeout: float = 30) -> list[str]:
        """Stop the verified processes; with `purge`, delete the stack's directories — only inside directories
        aladia marked as its own. A refused purge raises before anything is stopped or deleted."""
        if purge:
            check_data_dir(self.settings.data_dir)
            for component in self.components:
                component.check_purge()
        stopped = []
        for component in reversed(self.components):
            if component.stop(timeout=timeout):
                stopped.append(component.name)
                self.reporter.info(f"stopped {component.name}")
        if purge:
            for component in self.components:
                component.purge()
            for path in (
                self.settings.state_dir,
                self.settings.logs_dir,
                self.settings.data_dir / "spark",
                self.settings.data_dir / "beam",
                self.settings.data_dir / "secure",
            ):
                remove_tree(path)
            self.reporter.info(f"removed the stack's state under {self.settings.data_dir} (artifact cache kept)")
        return stopped

    def status(self) -> list[ComponentHealth]:
        out = []
        for component in self.components:
            health = component.health()
            health.pid = component.process.pid()  # only a process verified as the one `aladia up` started
            health.managed = health.pid is not None
            out.append(health)
        return out
