"""A single-node Apache Kafka broker in KRaft mode (combined broker and controller)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from aladia_etl.core import secrets
from aladia_etl.core.errors import ComponentFailed
from aladia_etl.core.security import KafkaSecurity
from aladia_etl.stack import jvm
from aladia_etl.stack.artifacts import classpath
from aladia_etl.stack.component import LocalComponent
from aladia_etl.stack.probes import ComponentHealth, check_kafka
from aladia_etl.stack.secure import (
    KAFKA_BROKER_CN,
    KAFKA_USER,
    SCRAM_ITERATIONS,
    SCRAM_MECHANISM,
    SecureFiles,
    is_secure,
)

MAX_RECORD_BYTES = 16 * 1024 * 1024  # the largest record the local broker and Connect accept


class LocalKafka(LocalComponent):
    name = "kafka"
    label = "Kafka broker"
    readiness = "serve metadata"

    @property
    def log_dirs(self) -> Path:
        return self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    def server_properties(self) -> dict[str, object]:
        k = self.settings.kafka
        host, port, cport = k.host, k.port, k.controller_port
        return {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@{host}:{cport}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": self.log_dirs,
            "num.partitions": 1,
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "log.retention.hours": 168,
            # a change event carries the whole old and new row (REPLICA IDENTITY FULL): a row holding large values
            # (1 MB text and jsonb) makes a record of several MB
            "message.max.bytes": MAX_RECORD_BYTES,
            "replica.fetch.max.bytes": MAX_RECORD_BYTES,
            **(self.secure_properties() if is_secure(self.settings) else {}),
        }

    def secure_properties(self) -> dict[str, object]:
        """The secured stack: clients (and the broker itself) on a SASL_SSL listener with the SCRAM user, the broker's
        certificate signed by the stack's CA. The controller listener takes only TLS clients presenting a certificate
        of that CA (the broker's own), and an authorizer lets only the SCRAM user and the broker do anything.
        Everything comes from the data directory's secure files, whatever the client settings say."""
        k = self.settings.kafka
        files = SecureFiles.of(self.settings)
        keystore = files.secret("keystore")
        secrets.register(keystore)
        jaas = KafkaSecurity(
            protocol="SASL_SSL",
            sasl_mechanism=SCRAM_MECHANISM,
            sasl_username=KAFKA_USER,
            sasl_password=files.secret("kafka"),
        ).java_properties()["sasl.jaas.config"]
        return {
            "listeners": f"SASL_SSL://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
            "advertised.listeners": f"SASL_SSL://{k.host}:{k.port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "CONTROLLER:SSL,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": files.kafka_keystore,
            "ssl.keystore.password": keystore,
            "ssl.key.password": keystore,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": files.ca,
            "ssl.client.auth": "none",
            "listener.name.controller.ssl.client.auth": "required",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{KAFKA_USER};User:CN={KAFKA_BROKER_CN}",
        }

    def scram_users(self) -> list[str]:
        """`kafka-storage format --add-scram` arguments: the SCRAM user every client (and the broker) logs in as, given
        as its salted password (RFC 5802), so that the password itself never appears on a command line."""
        if not is_secure(self.settings):
            return []
        salt = os.urandom(32)
        salted = hashlib.pbkdf2_hmac(
            "sha512", SecureFiles.of(self.settings).secret("kafka").encode(), salt, SCRAM_ITERATIONS
        )
        credential = (
            f'name={KAFKA_USER},iterations={SCRAM_ITERATIONS},salt="{base64.b64encode(salt).decode()}",'
            f'saltedpassword="{base64.b64encode(salted).decode()}"'
        )
        return ["--add-scram", f"{SCRAM_MECHANISM}=[{credential}]"]

    def is_formatted(self) -> bool:
        return (self.log_dirs / "meta.properties").is_file()

    def start(self, java: Path, jars: list[Path]) -> int:
        self.claim_data_dir()
        self.home.mkdir(parents=True, exist_ok=True)
        jvm.write_properties(self.config_file, self.server_properties())
        log_config = self.home / "log4j2.properties"
        log_config.write_text(jvm.LOG4J2_PROPERTIES)
        cp = classpath(jars)
        if not self.is_formatted():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.reporter.info(f"formatting Kafka storage in {self.log_dirs} (cluster id {cluster_id})")
            cmd = jvm.java_command(
                java,
                "256m",
                cp,
                log_config,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",  # one form: a random id may start with "-", an option to argparse
                "-c",
                str(self.config_file),
                *self.scram_users(),
            )
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                shutil.rmtree(self.log_dirs, ignore_errors=True)
                raise ComponentFailed(
                    "formatting the Kafka storage directory failed",
                    f"see the output below; storage directory {self.log_dirs}",
                    detail=(result.stdout + result.stderr)[-2000:],
                )
        cmd = jvm.java_command(java, self.settings.kafka.heap, cp, log_config, "kafka.Kafka", str(self.config_file))
        return self.process.start(cmd, cwd=self.home)

    def health(self) -> ComponentHealth:
        return check_kafka(self.settings)
