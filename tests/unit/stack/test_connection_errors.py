"""What a failed connection means, from libpq's and kafka-python's own messages: a refused password or an untrusted
or misnamed certificate is the configuration's fault (ConfigError, exit 3, naming the setting); a server that is not
there is ServiceUnavailable (exit 4). The real messages are produced against a secured stack in
tests/e2e/test_secure_stack.py."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

from aladia_etl.core.errors import ConfigError, ServiceUnavailable
from aladia_etl.core.settings import Settings
from aladia_etl.stack.connections import kafka_unavailable, postgres_unavailable

SERVER = 'connection to server at "127.0.0.1", port 5432 failed: '


@pytest.fixture
def settings(tmp_path):
    return Settings(_env_file=None, data_dir=tmp_path, postgres={"sslmode": "verify-full"})


@pytest.mark.parametrize(
    ("message", "words", "setting"),
    [
        (SERVER + 'FATAL:  password authentication failed for user "postgres"', "refused the password", "PASSWORD"),
        (SERVER + "fe_sendauth: no password supplied", "refused the password", "PASSWORD"),
        (SERVER + "SSL error: certificate verify failed", "not trusted", "SSLROOTCERT"),
        ('root certificate file "/root/.postgresql/root.crt" does not exist', "not trusted", "SSLROOTCERT"),
        (SERVER + 'server certificate for "127.0.0.1" does not match host name "localhost"', "not issued for", "HOST"),
        (
            SERVER + 'FATAL:  no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "x", no encryption',
            "accepts only TLS",
            "SSLMODE",
        ),
        (SERVER + "server does not support SSL, but SSL was required", "does not offer TLS", "SSLMODE"),
        (SERVER + "SSL error: tlsv1 alert unknown ca", "TLS handshake", "SSLMODE"),
    ],
)
def test_postgres_configuration_faults_are_config_errors(settings, message, words, setting):
    error = postgres_unavailable(settings, "sourcedb", Exception(message))
    assert isinstance(error, ConfigError)
    assert words in error.reason and f"ALADIA_POSTGRES__{setting}" in error.fix


def test_a_postgres_that_is_not_there_is_unavailable(settings):
    message = SERVER + "Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?"
    error = postgres_unavailable(settings, "sourcedb", Exception(message))
    assert isinstance(error, ServiceUnavailable) and "Connection refused" in error.reason


def test_kafka_faults():
    refused = kafka_unavailable("h:9093", SaslAuthenticationFailedError("Authentication failed during authentication"))
    assert isinstance(refused, ConfigError) and "SASL_PASSWORD" in refused.fix
    untrusted = kafka_unavailable("h:9093", OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    assert isinstance(untrusted, ConfigError) and "CA_FILE" in untrusted.fix
    plain = kafka_unavailable("h:9093", KafkaTimeoutError())
    assert isinstance(plain, ServiceUnavailable) and "ALADIA_KAFKA__SECURITY__PROTOCOL" in plain.fix
    secured = kafka_unavailable("h:9093", KafkaTimeoutError(), secured=True)
    assert "PROTOCOL" not in secured.fix


def test_a_kafka_certificate_for_another_name_says_so():
    text = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch, certificate is not valid"
    error = kafka_unavailable("localhost:9093", OSError(text))
    assert isinstance(error, ConfigError) and "not issued for" in error.reason
    assert "ALADIA_KAFKA__BOOTSTRAP_SERVERS" in error.fix


def test_a_postgres_going_away_mid_handshake_is_unavailable_not_misconfigured(settings):
    error = postgres_unavailable(settings, "sourcedb", Exception(SERVER + "SSL SYSCALL error: EOF detected"))
    assert isinstance(error, ServiceUnavailable)


def test_the_reason_a_bootstrap_failed_is_taken_from_kafka_pythons_log():
    """kafka-python raises only a timeout when no bootstrap connection succeeds; the reason is in its log record,
    which aladia keeps without showing it."""
    import logging

    from aladia_etl.stack import connections

    connections.quiet_kafka_logging()
    log = logging.getLogger("kafka.net.manager")
    log.warning(
        "Bootstrap connection to %s failed: %s (backoff %.2f secs)",
        "bootstrap-0",
        SaslAuthenticationFailedError("Authentication failed during authentication due to invalid credentials"),
        0.1,
    )
    cause = connections._BOOTSTRAP_FAILURES.cause()
    error = kafka_unavailable("h:9093", KafkaTimeoutError("Unable to bootstrap from h:9093"), True, cause)
    assert isinstance(error, ConfigError) and "credentials" in error.reason
    refused = kafka_unavailable(
        "h:9093", KafkaTimeoutError("Unable to bootstrap"), False, ConnectionRefusedError(111, "refused")
    )
    assert isinstance(refused, ServiceUnavailable)


def test_a_login_is_blamed_only_when_the_broker_completes_a_tls_handshake_of_our_own(tmp_path):
    import socket
    import ssl
    import threading

    from aladia_etl.stack import connections, tls

    ca, other = tls.new_ca(), tls.new_ca("another CA")
    server = tls.issue(ca, "127.0.0.1", "broker")
    (tmp_path / "s.pem").write_bytes(server.cert_pem)
    (tmp_path / "s.key").write_bytes(server.key_pem)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "other.pem").write_bytes(other.cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "s.pem", tmp_path / "s.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    config = {"bootstrap_servers": f"127.0.0.1:{port}", "security_protocol": "SASL_SSL"}
    try:
        assert connections._login_refused({**config, "ssl_cafile": str(tmp_path / "ca.pem")})
        assert not connections._login_refused({**config, "ssl_cafile": str(tmp_path / "other.pem")})
        assert not connections._login_refused({**config, "security_protocol": "PLAINTEXT"})
    finally:
        listener.close()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = {**config, "bootstrap_servers": f"127.0.0.1:{unused.getsockname()[1]}"}
        assert not connections._login_refused({**closed, "ssl_cafile": str(tmp_path / "ca.pem")})  # nobody listens


def test_only_closed_connections_are_told_apart_from_refusals():
    from aladia_etl.stack.connections import _BootstrapFailures

    failures = _BootstrapFailures()
    assert not failures.only_closed()
    failures.seen += [OSError("KafkaConnectionError: socket disconnected"), KafkaTimeoutError("Timeout during x")]
    assert failures.only_closed()
    failures.seen.append(ConnectionRefusedError(111, "Connection refused"))
    assert not failures.only_closed()


def test_a_broker_address_where_nothing_listens_is_unavailable_at_once():
    import socket
    import time

    from aladia_etl.core.errors import ServiceUnavailable
    from aladia_etl.stack.connections import _every_broker_refuses, kafka_client

    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
        up, down = (f"127.0.0.1:{s.getsockname()[1]}" for s in (listening, closed))
        assert isinstance(_every_broker_refuses(down), ConnectionRefusedError)
        assert isinstance(_every_broker_refuses([down, down]), ConnectionRefusedError)
        assert _every_broker_refuses(f"{down},{up}") is None  # one broker may answer: kafka-python decides
        assert _every_broker_refuses("PLAINTEXT://nowhere:9092") is None
        assert _every_broker_refuses("no-port") is None
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match=r"not reachable at 127\.0\.0\.1:\d+ \(ConnectionRefusedError\)"):
            kafka_client("KafkaAdminClient", down, timeout_ms=30_000)
        assert time.monotonic() - started < 5  # not the 30 s bootstrap wait
