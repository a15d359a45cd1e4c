"""One settings model for every command: env prefix ``ALADIA_``, nesting with ``__``, optional ``.env``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aladia_etl.core import versions
from aladia_etl.core.errors import ConfigError

ENV_PREFIX = "ALADIA_"
NESTED_DELIMITER = "__"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aladia"


def _split_host_port(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    if not host:
        return port or "127.0.0.1", default_port
    return host.strip("[]"), int(port)


class PostgresSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(5432, ge=1, le=65535)
    user: str = "postgres"
    password: SecretStr = SecretStr("postgres")
    source_db: str = "sourcedb"
    warehouse_db: str = "warehouse"
    # Where initdb/pg_ctl/postgres live; found automatically when unset.
    bin_dir: Path | None = None
    # Unprivileged OS account that runs the local server when aladia runs as root.
    os_user: str | None = None

    def conninfo(self, dbname: str | None = None, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (the password stays out of any string)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password.get_secret_value(),
            "dbname": dbname or self.source_db,
            "connect_timeout": 5,
            **extra,
        }


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    # KRaft controller listener of the local single-node broker.
    controller_port: int = Field(9093, ge=1, le=65535)
    heap: str = "512m"

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str) -> str:
        for server in value.split(","):
            host, port = _split_host_port(server, 9092)
            if not host or not (0 < port < 65536):
                raise ValueError(f"'{server}' is not host:port")
        return value

    @property
    def host(self) -> str:
        return _split_host_port(self.bootstrap_servers.split(",")[0], 9092)[0]

    @property
    def port(self) -> int:
        return _split_host_port(self.bootstrap_servers.split(",")[0], 9092)[1]


class ConnectSettings(BaseModel):
    url: str = "http://127.0.0.1:8083"
    heap: str = "768m"
    timeout_s: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8083")
        return value.rstrip("/")

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parsed = urlparse(self.url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)


class CdcSettings(BaseModel):
    connector_name: str = "orders-connector"
    topic_prefix: str = "orders_db"
    slot_name: str = "aladia_slot"
    publication: str = "aladia_pub"
    heartbeat_interval_ms: int = Field(5000, ge=100)
    topic_partitions: int = Field(1, ge=1, le=64)


class VersionSettings(BaseModel):
    """Component versions. They must agree with each other; the defaults are the tested pins."""

    kafka: str = versions.KAFKA_VERSION
    debezium: str = versions.DEBEZIUM_VERSION
    spark: str = versions.SPARK_VERSION


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # State, logs and caches of the local stack and of streaming jobs.
    data_dir: Path = Field(default_factory=_default_data_dir)
    # JVM artifacts resolved with Maven; defaults to <data_dir>/cache.
    cache_dir: Path | None = None
    postgres: PostgresSettings = PostgresSettings()
    kafka: KafkaSettings = KafkaSettings()
    connect: ConnectSettings = ConnectSettings()
    cdc: CdcSettings = CdcSettings()
    versions: VersionSettings = VersionSettings()

    @field_validator("data_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        # An empty path is the current directory: never where the stack's data (and a purge) should go by accident.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (an empty path would be the current directory)")
        return value

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @property
    def artifacts_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets replaced by '********'."""
        data = self.model_dump(mode="json")  # SecretStr dumps as '**********'
        data["artifacts_dir"] = str(self.artifacts_dir)
        return data


def env_var_for(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + NESTED_DELIMITER.join(str(part) for part in loc).upper()


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and .env; turn validation errors into one-line ConfigErrors."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first.get("loc", ()))
        variable = env_var_for(loc) if loc else ENV_PREFIX + "*"
        value = first.get("input")
        shown = "" if "password" in variable.lower() else f" (got {value!r})"
        message = first.get("msg", "invalid value").removeprefix("Value error, ")
        raise ConfigError(
            f"invalid setting {variable}{shown}: {message}",
            f"fix or unset {variable} in the environment or in .env",
        ) from None
