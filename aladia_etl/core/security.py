"""How aladia reaches secured services: Kafka over TLS and/or SASL (one setting group used by every Kafka client —
admin, consumers, producers, the Beam reader, the dead-letter producer, the bench — and handed to Spark's Kafka
source and to Kafka Connect), PostgreSQL over TLS, and secrets read from files (`…_FILE`, as container platforms
mount them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_MAX_SECRET_FILE = 64 * 1024


def read_secret_file(path: Path, setting: str) -> SecretStr:
    """A secret's value from a file (its content, without the trailing newline). Its problems name the setting, never
    the content."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    if len(data) > _MAX_SECRET_FILE:
        raise ValueError(f"{setting}: {path} is larger than a secret ({_MAX_SECRET_FILE} bytes at most)")
    try:
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"{setting}: {path} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"{setting}: {path} is empty")
    if not text.isprintable():
        raise ValueError(f"{setting}: {path} holds a line break or another control character inside the secret")
    return SecretStr(text)


def secrets_from_files(data: Any, fields: tuple[str, ...]) -> Any:
    """A `mode="before"` validator's body: each `<field>_file` given replaces `<field>` with the file's content (the
    file wins over a value given beside it: that is how a platform overrides a default)."""
    if not isinstance(data, dict):
        return data
    for name in fields:
        path = data.get(f"{name}_file")
        if path not in (None, ""):
            data = {**data, name: read_secret_file(Path(path), f"{name}_file")}
    return data


def readable_file(value: Path | None) -> Path | None:
    if value is not None and not value.expanduser().is_file():
        raise ValueError(f"{value} is not a readable file")
    return value.expanduser().absolute() if value is not None else None


class KafkaSecurity(BaseModel):
    """ALADIA_KAFKA__SECURITY__*: how every Kafka client connects."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ca_file: Path | None = Field(None, description="PEM: the CA that signed the brokers' certificates")
    cert_file: Path | None = Field(None, description="PEM: this client's certificate (mutual TLS)")
    key_file: Path | None = Field(None, description="PEM: this client's private key (mutual TLS)")
    key_password: SecretStr | None = None
    key_password_file: Path | None = None
    check_hostname: bool = True

    @model_validator(mode="before")
    @classmethod
    def _files(cls, data: Any) -> Any:
        return secrets_from_files(data, ("sasl_password", "key_password"))

    @field_validator("protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("sasl_username", "sasl_password", "key_password")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is not None and not text.isprintable():
            raise ValueError("holds a line break or another control character")
        return value

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _files_exist(cls, value: Path | None) -> Path | None:
        return readable_file(value)

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        if self.protocol.startswith("SASL"):
            if self.sasl_mechanism is None:
                raise ValueError(f"protocol {self.protocol} needs sasl_mechanism (one of: {', '.join(MECHANISMS)})")
            if not self.sasl_username or self.sasl_password is None:
                raise ValueError(f"protocol {self.protocol} needs sasl_username and sasl_password (or _file)")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS)")
        return self

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def client_kwargs(self) -> dict[str, Any]:
        """kafka-python's configuration."""
        out: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.startswith("SASL"):
            out["sasl_mechanism"] = self.sasl_mechanism
            out["sasl_plain_username"] = self.sasl_username
            out["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.tls:
            out["ssl_check_hostname"] = self.check_hostname
            if self.ca_file:
                out["ssl_cafile"] = str(self.ca_file)
            if self.cert_file:
                out["ssl_certfile"] = str(self.cert_file)
                out["ssl_keyfile"] = str(self.key_file)
            if self.key_password:
                out["ssl_password"] = self.key_password.get_secret_value()
        return out

    def java_properties(self) -> dict[str, str]:
        """The Java Kafka client's configuration (Spark's Kafka source with a `kafka.` prefix, Kafka Connect)."""
        out: dict[str, str] = {"security.protocol": self.protocol}
        if self.protocol.startswith("SASL"):
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            password = self.sasl_password.get_secret_value() if self.sasl_password else ""
            out["sasl.mechanism"] = str(self.sasl_mechanism)
            user = jaas_quoted(self.sasl_username or "")
            out["sasl.jaas.config"] = f'{module} required username="{user}" password="{jaas_quoted(password)}";'
        if self.tls:
            if self.ca_file:
                out["ssl.truststore.type"] = "PEM"
                out["ssl.truststore.location"] = str(self.ca_file)
            if self.cert_file is not None and self.key_file is not None:  # together or neither (_consistent)
                out["ssl.keystore.type"] = "PEM"
                out["ssl.keystore.certificate.chain"] = self.cert_file.read_text()
                out["ssl.keystore.key"] = self.key_file.read_text()
                if self.key_password:
                    out["ssl.key.password"] = self.key_password.get_secret_value()
            if not self.check_hostname:
                out["ssl.endpoint.identification.algorithm"] = ""
        return out


def jaas_quoted(value: str) -> str:
    """A value inside a JAAS configuration's double quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


class PostgresTls(BaseModel):
    """The TLS part of ALADIA_POSTGRES__*: libpq's own names."""

    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    sslrootcert: Path | None = None  # PEM: the CA of the server's certificate
    sslcert: Path | None = None  # PEM: this client's certificate (mutual TLS)
    sslkey: Path | None = None  # its private key (Debezium's pgjdbc reads .key/.pem as PEM, .p12 as PKCS#12)

    @field_validator("sslmode", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("sslrootcert", "sslcert", "sslkey")
    @classmethod
    def _files_exist(cls, value: Path | None) -> Path | None:
        return readable_file(value)

    @model_validator(mode="after")
    def _pair(self) -> PostgresTls:
        if (self.sslcert is None) != (self.sslkey is None):
            raise ValueError("sslcert and sslkey go together (mutual TLS)")
        return self

    def libpq(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sslmode": self.sslmode}
        for key in ("sslrootcert", "sslcert", "sslkey"):
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value)
        return out

    def debezium(self) -> dict[str, str]:
        """The connector's `database.ssl*` settings: the same files (pgjdbc reads a PEM root certificate, and picks a
        client key's format by its name: `.key`/`.pem` PEM, `.p12`/`.pfx` PKCS#12, anything else PKCS#8 DER)."""
        out: dict[str, str] = {"database.sslmode": self.sslmode}
        for key in ("sslrootcert", "sslcert", "sslkey"):
            value = getattr(self, key)
            if value is not None:
                out[f"database.{key}"] = str(value)
        return out
