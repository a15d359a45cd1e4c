"""How every command reaches the stack's components: one PostgreSQL connect helper and one Kafka client factory.

No network call happens at import or construction time of anything else; these functions are the only places
that open a connection, with short timeouts and errors that name the server and the fix.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aladia_etl.core.errors import ConfigError, ServiceUnavailable
from aladia_etl.core.settings import Settings

if TYPE_CHECKING:
    from psycopg import Connection


# -- PostgreSQL ----------------------------------------------------------------------------------------------
def postgres_unavailable(settings: Settings, dbname: str, exc: BaseException) -> ServiceUnavailable | ConfigError:
    """What a failed connection means: a refused password or certificate is the configuration's fault (exit 3, the
    setting to fix named); anything else is a server that is not there (exit 4)."""
    pg = settings.postgres
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f"PostgreSQL at {pg.host}:{pg.port}"
    lowered = str(exc).lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return ConfigError(
            f"{where} refused the password of user {pg.user}",
            "check ALADIA_POSTGRES__USER and ALADIA_POSTGRES__PASSWORD (or ALADIA_POSTGRES__PASSWORD_FILE)",
        )
    if "certificate verify failed" in lowered or "root certificate" in lowered:
        return ConfigError(
            f"the certificate of {where} is not trusted ({_ssl_reason(lowered)})",
            "set ALADIA_POSTGRES__SSLROOTCERT to the CA that signed the server's certificate",
        )
    if "does not match host name" in lowered or ("does not match" in lowered and "certificate" in lowered):
        return ConfigError(
            f"the certificate of {where} is not issued for the host {pg.host!r}",
            "connect by the name the certificate carries (ALADIA_POSTGRES__HOST), or use sslmode verify-ca",
        )
    if "no encryption" in lowered and "pg_hba.conf" in lowered:
        return ConfigError(
            f"{where} accepts only TLS connections (sslmode {pg.sslmode})",
            "set ALADIA_POSTGRES__SSLMODE=verify-full and ALADIA_POSTGRES__SSLROOTCERT to the server's CA",
        )
    if "server does not support ssl" in lowered:
        return ConfigError(
            f"{where} does not offer TLS but sslmode is {pg.sslmode}",
            "enable TLS on the server (ssl = on); only if the connection may go unencrypted, lower "
            "ALADIA_POSTGRES__SSLMODE to prefer",
        )
    # a handshake refused (not a connection lost: "SSL SYSCALL error: EOF detected" is a server going away)
    if "certificate" in lowered or "ssl error:" in lowered or "tlsv1 alert" in lowered:
        return ConfigError(
            f"the TLS handshake with {where} failed: {text}",
            "check ALADIA_POSTGRES__SSLMODE, __SSLROOTCERT, __SSLCERT and __SSLKEY",
        )
    return ServiceUnavailable(
        f"{where} is not reachable (database {dbname}): {text}",
        "start it with 'aladia up' or set ALADIA_POSTGRES__HOST/PORT/USER/PASSWORD",
    )


def connect(settings: Settings, dbname: str, autocommit: bool = False, **extra: Any) -> Connection:
    """A psycopg connection to `dbname` on the configured server (the password never enters a string)."""
    import psycopg

    try:
        return psycopg.connect(**settings.postgres.conninfo(dbname, **extra), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise postgres_unavailable(settings, dbname, exc) from None


def connect_conninfo(conninfo: dict[str, Any], autocommit: bool = False) -> Connection:
    """A connection from plain keyword arguments (`PostgresSettings.conninfo`): what executors and DoFns get,
    since settings objects are not shipped to workers."""
    import psycopg

    return psycopg.connect(**conninfo, autocommit=autocommit)


# -- Kafka ---------------------------------------------------------------------------------------------------
def quiet_kafka_logging() -> None:
    """kafka-python logs connection failures at ERROR; callers report them instead. Why a bootstrap failed (a refused
    login, an untrusted certificate) reaches only its log: it is kept (`_BOOTSTRAP_FAILURES`), not shown."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    manager = logging.getLogger("kafka.net.manager")
    if _BOOTSTRAP_FAILURES not in manager.handlers:
        manager.setLevel(logging.WARNING)
        manager.propagate = False
        manager.addHandler(_BOOTSTRAP_FAILURES)


class _BootstrapFailures(logging.Handler):
    """Why kafka-python's bootstrap connections failed (it raises only a timeout). The broker may first close a few
    connections without a word before it answers one with the reason: every distinct reason is kept."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Bootstrap connection to") and isinstance(record.args, tuple):
            for arg in record.args:
                if isinstance(arg, BaseException) and len(self.seen) < 32:
                    self.seen.append(arg)

    def cause(self) -> BaseException | None:
        """The most telling reason seen: a refused login or certificate over a connection merely closed."""
        for exc in reversed(self.seen):
            text = f"{type(exc).__name__}: {exc}"
            if "Authentication" in text or "SASL" in text or "SSL" in text or "certificate" in text:
                return exc
        return self.seen[-1] if self.seen else None

    def only_closed(self) -> bool:
        """Whether the connections were closed without a word (or timed out), never refused with a reason."""
        texts = [str(exc) for exc in self.seen]
        closed = [text for text in texts if "socket disconnected" in text]
        return bool(closed) and all(text in closed or "Timeout" in text or "TimedOut" in text for text in texts)


_BOOTSTRAP_FAILURES = _BootstrapFailures()


def kafka_unavailable(
    bootstrap_servers: str, exc: BaseException, secured: bool = False, cause: BaseException | None = None
) -> ServiceUnavailable | ConfigError:
    """What a failed Kafka client means; `cause`: the reason its bootstrap connections failed, when known."""
    text = f"{type(exc).__name__}: {exc}"
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})"
    if "Authentication" in text or "SaslAuthentication" in text or "Illegal SASL" in text:
        return ConfigError(
            f"Kafka at {bootstrap_servers} refused aladia's credentials",
            "check ALADIA_KAFKA__SECURITY__SASL_USERNAME, ALADIA_KAFKA__SECURITY__SASL_PASSWORD (or …_FILE) and "
            "ALADIA_KAFKA__SECURITY__SASL_MECHANISM",
        )
    if "hostname mismatch" in text.lower() or "ip address mismatch" in text.lower():
        return ConfigError(
            f"the certificate of Kafka at {bootstrap_servers} is not issued for that host name",
            "connect by the name the certificate carries (ALADIA_KAFKA__BOOTSTRAP_SERVERS), or set "
            "ALADIA_KAFKA__SECURITY__CHECK_HOSTNAME=false",
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return ConfigError(
            f"the certificate of Kafka at {bootstrap_servers} is not trusted ({_ssl_reason(text)})",
            "set ALADIA_KAFKA__SECURITY__CA_FILE to the CA that signed the brokers' certificates",
        )
    hint = "" if secured else " — if the brokers expect TLS or SASL, set ALADIA_KAFKA__SECURITY__PROTOCOL"
    return ServiceUnavailable(
        f"Kafka is not reachable at {bootstrap_servers} ({type(exc).__name__})",
        f"start it with 'aladia up' or set ALADIA_KAFKA__BOOTSTRAP_SERVERS{hint}",
    )


def _ssl_reason(text: str) -> str:
    for reason in (
        "certificate has expired",
        "self-signed certificate",
        "unable to get local issuer certificate",
        "Hostname mismatch",
        "IP address mismatch",
    ):
        if reason.lower() in text.lower():
            return reason
    return "certificate verify failed"


def kafka_client(kind: str, kafka_config: dict[str, Any] | str, timeout_ms: int = 5000, **config):
    """A kafka-python client (`KafkaConsumer`, `KafkaProducer`, `KafkaAdminClient`) with a short bootstrap wait
    (kafka-python blocks 30 s by default when no broker answers). `kafka_config`: `KafkaSettings.client()` (the
    brokers and how to reach them securely), or a plain bootstrap string."""
    import kafka
    from kafka.errors import KafkaError

    quiet_kafka_logging()
    base = {"bootstrap_servers": kafka_config} if isinstance(kafka_config, str) else dict(kafka_config)
    config.setdefault("client_id", "aladia")
    secured = base.get("security_protocol", "PLAINTEXT") != "PLAINTEXT"
    refused = _every_broker_refuses(base["bootstrap_servers"])
    if refused is not None:  # nothing listens: said at once, not after kafka-python's bootstrap wait
        raise kafka_unavailable(base["bootstrap_servers"], refused, secured)
    _BOOTSTRAP_FAILURES.seen.clear()
    try:
        return getattr(kafka, kind)(bootstrap_timeout_ms=timeout_ms, **{**base, **config})
    except (KafkaError, OSError) as exc:
        cause = _BOOTSTRAP_FAILURES.cause()
        if _BOOTSTRAP_FAILURES.only_closed() and _login_refused(base):
            mechanism, user = base.get("sasl_mechanism"), base.get("sasl_plain_username")
            raise ConfigError(
                f"Kafka at {base['bootstrap_servers']} accepted the connection but closed it at every login as user "
                f"{user!r} ({mechanism}): it refuses these credentials",
                "check ALADIA_KAFKA__SECURITY__SASL_USERNAME, ALADIA_KAFKA__SECURITY__SASL_PASSWORD (or …_FILE) and "
                "ALADIA_KAFKA__SECURITY__SASL_MECHANISM",
            ) from None
        raise kafka_unavailable(base["bootstrap_servers"], exc, secured, cause) from None


def _every_broker_refuses(bootstrap_servers: Any, timeout: float = 1.0) -> ConnectionRefusedError | None:
    """The refusal, when every bootstrap address actively refuses a TCP connection (no broker listens there); None
    when one accepts, or answers otherwise (a timeout, a name that does not resolve: kafka-python reports those)."""
    import socket

    servers = bootstrap_servers.split(",") if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
    refusal = None
    for server in (str(s).strip() for s in servers):
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            return None
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except ConnectionRefusedError as exc:
            refusal = exc
            continue
        except OSError:
            return None
        return None
    return refusal


def _login_refused(config: dict[str, Any]) -> bool:
    """Whether a SASL client whose every bootstrap connection was closed without a word failed at login. A broker
    answers a refused login and closes the connection at once; kafka-python drops an answer that arrives together
    with the close and reports only "socket disconnected". If the broker still completes a TLS handshake (or a TCP
    connection, for SASL_PLAINTEXT) on a connection of our own, the refused login is the one step left."""
    import socket
    import ssl

    protocol = config.get("security_protocol", "PLAINTEXT")
    if not protocol.startswith("SASL"):
        return False
    host, _, port = config["bootstrap_servers"].split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as raw:
            if protocol == "SASL_SSL":
                context = ssl.create_default_context(cafile=config.get("ssl_cafile"))
                context.check_hostname = bool(config.get("ssl_check_hostname", True))
                with context.wrap_socket(raw, server_hostname=host.strip("[]")):
                    pass
    except (OSError, ValueError):
        return False
    return True


def admin(settings: Settings, timeout_ms: int = 5000, request_timeout_ms: int = 10000):
    return kafka_client("KafkaAdminClient", settings.kafka.client(), timeout_ms, request_timeout_ms=request_timeout_ms)


def consumer(settings: Settings, timeout_ms: int = 5000, **config):
    # aladia's consumers never create a topic: one asking about a topic deleted under it (the bench's cleanup, a
    # user's) would bring it back on a broker that auto-creates topics
    config.setdefault("allow_auto_create_topics", False)
    return kafka_client("KafkaConsumer", settings.kafka.client(), timeout_ms, **config)


def producer(settings: Settings, timeout_ms: int = 5000, **config):
    return kafka_client("KafkaProducer", settings.kafka.client(), timeout_ms, **config)


@contextlib.contextmanager
def closing(client):
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()
