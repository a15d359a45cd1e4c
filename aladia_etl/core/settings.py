"""One settings model for every command: env prefix ``ALADIA_``, nesting with ``__``, optional ``.env``."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from aladia_etl.core import names, secrets, versions
from aladia_etl.core.errors import ConfigError
from aladia_etl.core.secure_client import SecureStackSource, default_data_dir
from aladia_etl.core.security import KafkaSecurity, PostgresTls, readable_file, secrets_from_files
from aladia_etl.core.serve_settings import HealthSettings, ServeSettings

ENV_PREFIX = "ALADIA_"
# The built-in model's source tables, captured when no pipeline file says otherwise.
DEFAULT_CAPTURE = ("public.customers", "public.products", "public.orders", "public.order_items")
NESTED_DELIMITER = "__"


def _split_host_port(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    if not host:
        return port or "127.0.0.1", default_port
    return host.strip("[]"), int(port)


_HOST = re.compile(r"[A-Za-z0-9._:-]{1,253}|\[[0-9A-Fa-f:.]+\]")
_HEAP = re.compile(r"[1-9][0-9]{0,6}[kmgKMG]")


def _non_empty(value: Any) -> Any:
    """Empty values are errors, not a silent fall-back to a default (or to the current directory)."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("is empty; unset the variable to use the default")
    return value


def _name(kind: str, value: str) -> str:
    reason = names.problem(kind, value)
    if reason:
        raise ValueError(reason)
    return value


def _heap(value: str) -> str:
    if not _HEAP.fullmatch(value):
        raise ValueError("must be a JVM heap size such as 512m or 2g")
    return value


class PostgresSettings(PostgresTls):
    host: str = "127.0.0.1"
    port: int = Field(5432, ge=1, le=65535)
    user: str = "postgres"
    password: SecretStr = SecretStr("postgres")
    password_file: Path | None = None  # the password read from a file (wins over PASSWORD)
    source_db: str = "sourcedb"
    warehouse_db: str = "warehouse"
    # Where initdb/pg_ctl/postgres live; found automatically when unset.
    bin_dir: Path | None = None
    # Unprivileged OS account that runs the local server when aladia runs as root.
    os_user: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _files(cls, data: Any) -> Any:
        return secrets_from_files(data, ("password",))

    @field_validator("host", "user", "password", "source_db", "warehouse_db", "bin_dir", "os_user", mode="before")
    @classmethod
    def _filled(cls, value: Any) -> Any:
        return _non_empty(value.get_secret_value() if isinstance(value, SecretStr) else value) and value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if not _HOST.fullmatch(value):
            raise ValueError("must be a host name or IP address")
        return value

    @field_validator("source_db", "warehouse_db")
    @classmethod
    def _check_database(cls, value: str) -> str:
        return _name("database", value)

    def conninfo(self, dbname: str | None = None, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (the password stays out of any string)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password.get_secret_value(),
            "dbname": dbname or self.source_db,
            "connect_timeout": 5,
            **self.libpq(),
            **extra,
        }


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    # KRaft controller listener of the local single-node broker.
    controller_port: int = Field(9093, ge=1, le=65535)
    heap: str = "512m"
    security: KafkaSecurity = KafkaSecurity()

    @field_validator("bootstrap_servers", "heap", mode="before")
    @classmethod
    def _filled(cls, value: Any) -> Any:
        return _non_empty(value)

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str) -> str:
        for server in value.split(","):
            if not server.strip():
                raise ValueError("has an empty entry; list host:port pairs separated by commas")
            try:
                host, port = _split_host_port(server, 9092)
            except ValueError:
                raise ValueError(f"'{server.strip()}' is not host:port (the port must be a number)") from None
            if not _HOST.fullmatch(host) or not (0 < port < 65536):
                raise ValueError(f"'{server.strip()}' is not host:port")
        return value

    @field_validator("heap")
    @classmethod
    def _check_heap(cls, value: str) -> str:
        return _heap(value)

    def client(self) -> dict[str, Any]:
        """kafka-python's configuration for every client aladia runs: the brokers and how to reach them securely
        (plain data: what the engines' workers receive)."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.security.client_kwargs()}

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
    # Basic auth of Connect's REST API, and the CA of an https:// URL.
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _files(cls, data: Any) -> Any:
        return secrets_from_files(data, ("password",))

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: Path | None) -> Path | None:
        return readable_file(value)

    def http(self) -> dict[str, Any]:
        """requests' `auth` and `verify` for every call to Connect (the probes too)."""
        out: dict[str, Any] = {}
        if self.username:
            out["auth"] = (self.username, self.password.get_secret_value() if self.password else "")
        if self.ca_file is not None:
            out["verify"] = str(self.ca_file)
        return out

    @field_validator("url", "heap", mode="before")
    @classmethod
    def _filled(cls, value: Any) -> Any:
        return _non_empty(value)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            parsed = urlparse(value)
            parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("must be an http(s) URL with a numeric port, such as http://127.0.0.1:8083") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8083")
        if parsed.query or parsed.fragment or parsed.path.strip("/"):
            raise ValueError("must be the worker's base URL, without a path, such as http://127.0.0.1:8083")
        return value.rstrip("/")

    @field_validator("heap")
    @classmethod
    def _check_heap(cls, value: str) -> str:
        return _heap(value)

    @field_validator("timeout_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value) or value > 3600:
            raise ValueError("must be a number of seconds up to 3600")
        return value

    @property
    def display_url(self) -> str:
        """The URL as it may be shown: credentials in it are masked."""
        return names.masked_url(self.url)

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
    heartbeat_interval_ms: int = Field(5000, ge=100, le=3_600_000)
    topic_partitions: int = Field(1, ge=1, le=64)
    # Rows per window of an incremental snapshot (`aladia cdc snapshot`): Debezium reads a table in chunks of this
    # many rows, each deduplicated against the changes made while it was read.
    snapshot_chunk_size: int = Field(1024, ge=1, le=1_000_000)
    # Retained WAL above this (bytes) is a warning in `aladia status` and an alert in the health API.
    wal_warn_bytes: int = Field(1024**3, ge=1024**2, le=1024**5)

    @field_validator("connector_name", "topic_prefix", "slot_name", "publication", mode="before")
    @classmethod
    def _filled(cls, value: Any) -> Any:
        return _non_empty(value)

    @field_validator("connector_name")
    @classmethod
    def _check_connector(cls, value: str) -> str:
        return _name("connector", value)

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        return _name("topic prefix", value)

    @field_validator("slot_name")
    @classmethod
    def _check_slot(cls, value: str) -> str:
        return _name("slot", value)

    @field_validator("publication")
    @classmethod
    def _check_publication(cls, value: str) -> str:
        return _name("publication", value)


class BeamSettings(BaseModel):
    # A Prism binary to use instead of the one aladia installs into the cache (it must match apache-beam).
    prism_path: Path | None = None

    @field_validator("prism_path", mode="before")
    @classmethod
    def _filled(cls, value: Any) -> Any:
        return _non_empty(value)


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
    data_dir: Path = Field(default_factory=default_data_dir)
    # JVM artifacts resolved with Maven; defaults to <data_dir>/cache.
    cache_dir: Path | None = None
    postgres: PostgresSettings = PostgresSettings()
    kafka: KafkaSettings = KafkaSettings()
    connect: ConnectSettings = ConnectSettings()
    cdc: CdcSettings = CdcSettings()
    beam: BeamSettings = BeamSettings()
    health: HealthSettings = HealthSettings()
    serve: ServeSettings = ServeSettings()
    versions: VersionSettings = VersionSettings()
    # The pipeline file (aladia.yaml): which tables are captured and what they become (`--pipeline` wins).
    pipeline: Path | None = None
    # The source tables this run captures (`schema.table`), resolved from the pipeline (`with_capture`).
    _capture: tuple[str, ...] | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings, file_secret_settings, SecureStackSource(settings_cls)

    @field_validator("data_dir", "cache_dir", "pipeline", mode="before")
    @classmethod
    def _filled(cls, value: Any) -> Any:
        return _non_empty(value)

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @property
    def capture(self) -> tuple[str, ...]:
        """The captured source tables (`schema.table`): the pipeline's, once resolved; else the built-in model's."""
        return self._capture or DEFAULT_CAPTURE

    def capture_more(self, tables: tuple[str, ...]) -> None:
        """A running stream captured new tables (`processing.capture`): these settings capture `tables` now."""
        self._capture = tuple(tables)

    def with_capture(self, tables: tuple[str, ...]) -> Settings:
        """These settings, capturing `tables` (what a compiled pipeline captures)."""
        copy = self.model_copy()
        copy._capture = tuple(tables)
        return copy

    @property
    def artifacts_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    def model_post_init(self, context: Any, /) -> None:
        """Every secret these settings hold is registered with the one masking function (`core.secrets`), so that
        no output path — terminal, logs, state files, the health API — can show it."""
        secrets.register(self.postgres.password.get_secret_value())
        password = _url_password(self.connect.url)
        if password:
            secrets.register(password)
        security = self.kafka.security
        for secret in (security.sasl_password, security.key_password, self.connect.password, self.serve.token):
            if secret is not None:
                secrets.register(secret.get_secret_value())

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets replaced by '********'."""
        data = self.model_dump(mode="json")  # SecretStr dumps as '**********'
        data["connect"]["url"] = self.connect.display_url
        data["artifacts_dir"] = str(self.artifacts_dir)
        return data


def _url_password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def env_var_for(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + NESTED_DELIMITER.join(str(part) for part in loc).upper()


def _shown(variable: str, value: Any) -> str:
    """The offending value, when it is safe and short enough to quote (never a secret or a URL's password)."""
    if secrets.is_secret_name(variable) or not isinstance(value, (str, int, float)):
        return ""
    text = names.masked_url(value) if isinstance(value, str) and "://" in value else str(value)
    return f" (got {text[:80]!r})" if text.isprintable() else ""


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and .env; turn every way they can be wrong into one-line
    ConfigErrors naming the variable (or the file)."""
    from pydantic_settings import SettingsError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(part) for part in first.get("loc", ()))
        message = first.get("msg", "invalid value").removeprefix("Value error, ")
        secret_file = re.match(r"(\w+_file): (.*)", message)  # a secret file's problem, found by its group
        if secret_file:
            loc, message = (*loc, secret_file.group(1)), secret_file.group(2)
        variable = env_var_for(loc) if loc else ENV_PREFIX + "*"
        if secret_file or secrets.is_secret_name(variable):  # worded so that masking cannot take the reason
            reason = message if secret_file else "the value " + message.split(":", 1)[0]
            raise ConfigError(
                f"invalid setting {variable} ({reason})", f"fix or unset {variable} in the environment or in .env"
            ) from None
        raise ConfigError(
            f"invalid setting {variable}{_shown(variable, first.get('input'))}: {message}",
            f"fix or unset {variable} in the environment or in .env",
        ) from None
    except SettingsError as exc:  # e.g. ALADIA_POSTGRES='not json' for a nested group
        field = str(exc).split('"')[1] if '"' in str(exc) else "*"
        raise ConfigError(
            f"invalid setting {ENV_PREFIX}{field.upper()}: a group of settings must be a JSON object",
            f"set its fields one by one (e.g. {ENV_PREFIX}POSTGRES__PORT) or fix the JSON in the environment or .env",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{Path('.env').absolute()} is not UTF-8 text", "fix or remove the .env file in the current directory"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {Path('.env').absolute()}: {exc.strerror or exc}", "fix or remove the .env file"
        ) from None
