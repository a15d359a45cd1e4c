"""The secured local stack (`aladia up --secure`): what it generates once into `<data_dir>/secure/` and how its
components use it.

- `ca.pem` — the CA every server certificate is signed by (clients verify against it);
- `kafka.p12` — the broker's key and certificate (PKCS#12, for its SASL_SSL listener);
- `postgres.crt` / `postgres.key` — PostgreSQL's certificate and key (copied into the cluster, owned by its account);
- `*.password` — random passwords: PostgreSQL's superuser, Kafka's SCRAM user, Connect's basic-auth user and the
  broker's keystore;
- `client.json` — the client settings every aladia command run with this data directory picks up (`core.settings`;
  explicit settings win): `verify-full` TLS to PostgreSQL, SASL_SSL with SCRAM-SHA-512 to Kafka, basic auth to
  Connect — secrets given as `…_file` paths, never inline.

Every file is private to its owner (0600, the directory 0700). A data directory that already holds a plain stack is
not converted (its PostgreSQL superuser and Kafka users were made without these passwords)."""

from __future__ import annotations

import json
import os
import secrets as random
from dataclasses import dataclass
from pathlib import Path

from aladia_etl.core.errors import ConfigError
from aladia_etl.core.secure_client import SECURE_CLIENT_SETTINGS
from aladia_etl.core.security import jaas_quoted
from aladia_etl.core.settings import Settings
from aladia_etl.stack import tls
from aladia_etl.stack.ownership import write_private

SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
KAFKA_USER = "aladia"
CONNECT_USER = "aladia"
# The broker's certificate: presented on its listeners, and as a client to its own controller listener, where this
# name is its principal.
KAFKA_BROKER_CN = "aladia-kafka-broker"


@dataclass(frozen=True)
class SecureFiles:
    root: Path

    @classmethod
    def of(cls, settings: Settings) -> SecureFiles:
        return cls((settings.data_dir / SECURE_CLIENT_SETTINGS).parent)

    @property
    def client_settings(self) -> Path:
        return self.root / Path(SECURE_CLIENT_SETTINGS).name

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def kafka_keystore(self) -> Path:
        return self.root / "kafka.p12"

    @property
    def postgres_cert(self) -> Path:
        return self.root / "postgres.crt"

    @property
    def postgres_key(self) -> Path:
        return self.root / "postgres.key"

    @property
    def connect_users(self) -> Path:
        return self.root / "connect-users.properties"

    @property
    def connect_jaas(self) -> Path:
        return self.root / "connect-jaas.conf"

    def password(self, name: str) -> Path:
        return self.root / f"{name}.password"

    def secret(self, name: str) -> str:
        return self.password(name).read_text().strip()

    def exists(self) -> bool:
        return self.client_settings.is_file()


def is_secure(settings: Settings) -> bool:
    """Whether this data directory's local stack runs secured."""
    return SecureFiles.of(settings).exists()


def create(settings: Settings, plain_stack_exists: bool) -> bool:
    """Generate the secured stack's CA, certificates, passwords and client settings, once. Returns whether they were
    made now. Refused (ConfigError, nothing written) for a data directory whose plain stack already exists."""
    files = SecureFiles.of(settings)
    if files.exists():
        return False
    if plain_stack_exists:
        raise ConfigError(
            f"the data directory {settings.data_dir} already holds a plain (unsecured) stack",
            "use another ALADIA_DATA_DIR for the secured stack, or remove this one first (aladia down --purge)",
        )
    if files.root.is_symlink() or (files.root.exists() and not files.root.is_dir()):
        raise ConfigError(
            f"{files.root} is not a directory aladia can keep the secured stack's secrets in (a link or a file)",
            "remove it, or use another ALADIA_DATA_DIR",
        )
    files.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(files.root, 0o700, follow_symlinks=False)
    ca = tls.new_ca()
    write_private(files.ca, ca.cert_pem.decode(), mode=0o644)
    write_private(files.ca_key, ca.key_pem.decode())
    for name in ("postgres", "kafka", "connect", "keystore"):
        write_private(files.password(name), random.token_hex(24) + "\n")
    kafka = tls.issue(ca, settings.kafka.host, KAFKA_BROKER_CN, also_client=True)
    _write_bytes(files.kafka_keystore, kafka.pkcs12(files.secret("keystore"), ca))
    postgres = tls.issue(ca, settings.postgres.host, "aladia local PostgreSQL")
    write_private(files.postgres_cert, postgres.cert_pem.decode() + ca.cert_pem.decode(), mode=0o644)
    write_private(files.postgres_key, postgres.key_pem.decode())
    write_private(files.connect_users, f"{CONNECT_USER}: {files.secret('connect')}\n")
    write_private(
        files.connect_jaas,
        "KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n"
        f'  file="{jaas_quoted(str(files.connect_users))}";\n}};\n',
    )
    client = {
        "postgres": {
            "host": settings.postgres.host,
            "port": settings.postgres.port,
            "sslmode": "verify-full",
            "sslrootcert": str(files.ca),
            "password_file": str(files.password("postgres")),
        },
        "kafka": {
            "bootstrap_servers": settings.kafka.bootstrap_servers,
            "security": {
                "protocol": "SASL_SSL",
                "sasl_mechanism": SCRAM_MECHANISM,
                "sasl_username": KAFKA_USER,
                "sasl_password_file": str(files.password("kafka")),
                "ca_file": str(files.ca),
            },
        },
        "connect": {
            "url": settings.connect.url,
            "username": CONNECT_USER,
            "password_file": str(files.password("connect")),
        },
    }
    # written last: its presence is what makes the stack secured
    write_private(files.client_settings, json.dumps(client, indent=2) + "\n")
    return True


def _write_bytes(path: Path, data: bytes) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
