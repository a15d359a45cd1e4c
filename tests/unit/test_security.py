"""Security settings: one Kafka group for every client (kafka-python's and Java's names), PostgreSQL TLS in libpq's
and Debezium's names, secrets from files, and the secured local stack's client settings below explicit ones."""

from __future__ import annotations

import json

import pytest

from aladia_etl.core import secrets
from aladia_etl.core.errors import ConfigError, ExitCode
from aladia_etl.core.secure_client import SECURE_CLIENT_SETTINGS
from aladia_etl.core.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith("ALADIA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALADIA_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def ca(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return path


def test_plaintext_is_the_default_and_adds_nothing():
    s = load_settings()
    assert s.kafka.client() == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert s.kafka.security.java_properties() == {"security.protocol": "PLAINTEXT"}
    assert s.postgres.conninfo("x")["sslmode"] == "prefer"


def test_sasl_ssl_scram_in_both_clients_names(monkeypatch, ca, tmp_path):
    secret = tmp_path / "kafka.password"
    secret.write_text('p"w\\d\n')
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_MECHANISM", "scram-sha-512")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_USERNAME", "svc")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__CA_FILE", str(ca))
    s = load_settings()
    client = s.kafka.client()
    assert client["security_protocol"] == "SASL_SSL"
    assert (client["sasl_mechanism"], client["sasl_plain_username"]) == ("SCRAM-SHA-512", "svc")
    assert client["sasl_plain_password"] == 'p"w\\d'  # the file's content without its line break
    assert client["ssl_cafile"] == str(ca) and client["ssl_check_hostname"] is True
    java = s.kafka.security.java_properties()
    assert java["sasl.mechanism"] == "SCRAM-SHA-512"
    assert java["sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="p\\"w\\\\d";'
    )
    assert (java["ssl.truststore.type"], java["ssl.truststore.location"]) == ("PEM", str(ca))
    assert "ssl.endpoint.identification.algorithm" not in java  # hostnames verified (Java's default)
    assert secrets.mask('the password p"w\\d') == "the password ********"


def test_plain_mechanism_and_no_hostname_check(monkeypatch, ca):
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_USERNAME", "u")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_PASSWORD", "p")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__CHECK_HOSTNAME", "false")
    java = load_settings().kafka.security.java_properties()
    assert java["sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule required")
    assert java["ssl.endpoint.identification.algorithm"] == ""


def test_mutual_tls_hands_the_pem_to_java(monkeypatch, tmp_path, ca):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("CERT\n")
    key.write_text("KEY\n")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__PROTOCOL", "SSL")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__CERT_FILE", str(cert))
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__KEY_FILE", str(key))
    s = load_settings()
    assert (s.kafka.client()["ssl_certfile"], s.kafka.client()["ssl_keyfile"]) == (str(cert), str(key))
    java = s.kafka.security.java_properties()
    assert (java["ssl.keystore.type"], java["ssl.keystore.certificate.chain"], java["ssl.keystore.key"]) == (
        "PEM",
        "CERT\n",
        "KEY\n",
    )


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"PROTOCOL": "SASL_SSL"}, "ALADIA_KAFKA__SECURITY", "needs sasl_mechanism"),
        ({"PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "PLAIN"}, "ALADIA_KAFKA__SECURITY", "needs sasl_username"),
        ({"PROTOCOL": "TLS"}, "ALADIA_KAFKA__SECURITY__PROTOCOL", "PLAINTEXT"),
        ({"SASL_MECHANISM": "GSSAPI"}, "ALADIA_KAFKA__SECURITY__SASL_MECHANISM", "SCRAM-SHA-256"),
        ({"CA_FILE": "/nonexistent/ca.pem"}, "ALADIA_KAFKA__SECURITY__CA_FILE", "not a readable file"),
        ({"CERT_FILE": "{ca}"}, "ALADIA_KAFKA__SECURITY", "go together"),
        ({"SASL_PASSWORD_FILE": "/nonexistent/pw"}, "ALADIA_KAFKA__SECURITY", "cannot read /nonexistent/pw"),
    ],
)
def test_a_wrong_kafka_security_setting_is_one_line_naming_it(monkeypatch, ca, env, variable, words):
    for key, value in env.items():
        monkeypatch.setenv(f"ALADIA_KAFKA__SECURITY__{key}", value.format(ca=ca))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.exit_code == ExitCode.CONFIG
    assert variable in caught.value.reason and words in caught.value.reason
    assert "\n" not in caught.value.reason


def test_a_secret_file_problem_never_shows_its_content(monkeypatch, tmp_path):
    big = tmp_path / "big"
    big.write_text("s3cr3t-" * 20000)
    monkeypatch.setenv("ALADIA_POSTGRES__PASSWORD_FILE", str(big))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "larger than a secret" in caught.value.reason and "s3cr3t" not in str(caught.value)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("ALADIA_POSTGRES__PASSWORD_FILE", str(empty))
    with pytest.raises(ConfigError, match="is empty"):
        load_settings()


def test_every_secret_can_come_from_a_file_and_the_file_wins(monkeypatch, tmp_path):
    values = {}
    for name in ("POSTGRES__PASSWORD", "CONNECT__PASSWORD", "SERVE__TOKEN"):
        path = tmp_path / name
        values[name] = f"from-file-{name.lower()}-0123456789"
        path.write_text(values[name] + "\n")
        monkeypatch.setenv(f"ALADIA_{name}", "from-the-environment-0123456789")
        monkeypatch.setenv(f"ALADIA_{name}_FILE", str(path))
    s = load_settings()
    assert s.postgres.password.get_secret_value() == values["POSTGRES__PASSWORD"]
    assert s.connect.password.get_secret_value() == values["CONNECT__PASSWORD"]
    assert s.serve.token.get_secret_value() == values["SERVE__TOKEN"]
    shown = json.dumps(s.masked())
    assert not any(v in shown for v in values.values())
    assert all(secrets.mask(v) == "********" for v in values.values())


def test_a_short_serve_token_is_refused(monkeypatch):
    monkeypatch.setenv("ALADIA_SERVE__TOKEN", "short")
    with pytest.raises(ConfigError, match=r"ALADIA_SERVE__TOKEN.*16 characters"):
        load_settings()


def test_postgres_tls_reaches_libpq_and_debezium(monkeypatch, ca):
    from aladia_etl.cdc.connector import build_config

    monkeypatch.setenv("ALADIA_POSTGRES__SSLMODE", "VERIFY-FULL")
    monkeypatch.setenv("ALADIA_POSTGRES__SSLROOTCERT", str(ca))
    s = load_settings()
    info = s.postgres.conninfo("warehouse")
    assert (info["sslmode"], info["sslrootcert"]) == ("verify-full", str(ca))
    config = build_config(s)
    assert (config["database.sslmode"], config["database.sslrootcert"]) == ("verify-full", str(ca))
    monkeypatch.delenv("ALADIA_POSTGRES__SSLMODE")
    monkeypatch.delenv("ALADIA_POSTGRES__SSLROOTCERT")
    assert "database.sslmode" not in build_config(load_settings())  # the plain default: the config as before


def test_connect_auth_and_ca_reach_every_request(monkeypatch, ca):
    from aladia_etl.cdc.service import client_for

    monkeypatch.setenv("ALADIA_CONNECT__URL", "https://connect.example:8443")
    monkeypatch.setenv("ALADIA_CONNECT__USERNAME", "ops")
    monkeypatch.setenv("ALADIA_CONNECT__PASSWORD", "connect-secret")
    monkeypatch.setenv("ALADIA_CONNECT__CA_FILE", str(ca))
    s = load_settings()
    assert s.connect.http() == {"auth": ("ops", "connect-secret"), "verify": str(ca)}
    session = client_for(s).session
    assert (session.auth, session.verify) == (("ops", "connect-secret"), str(ca))


# -- the secured local stack's client settings --------------------------------------------------------------
def _client_file(tmp_path, values: dict) -> None:
    path = tmp_path / "data" / SECURE_CLIENT_SETTINGS
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(values))


def test_the_secured_stacks_client_settings_apply_below_explicit_ones(monkeypatch, tmp_path, ca):
    pw = tmp_path / "kafka.password"
    pw.write_text("generated-kafka-password\n")
    pg = tmp_path / "pg.password"
    pg.write_text("generated-pg-password\n")
    _client_file(
        tmp_path,
        {
            "postgres": {"sslmode": "verify-full", "sslrootcert": str(ca), "password_file": str(pg)},
            "kafka": {
                "security": {
                    "protocol": "SASL_SSL",
                    "sasl_mechanism": "SCRAM-SHA-512",
                    "sasl_username": "aladia",
                    "sasl_password_file": str(pw),
                    "ca_file": str(ca),
                }
            },
        },
    )
    s = load_settings()
    assert s.kafka.security.protocol == "SASL_SSL"
    assert s.kafka.security.sasl_password.get_secret_value() == "generated-kafka-password"
    assert (s.postgres.sslmode, s.postgres.password.get_secret_value()) == ("verify-full", "generated-pg-password")
    # explicit settings win, a secret given explicitly also over the file that would have supplied it
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_PASSWORD", "explicit")
    monkeypatch.setenv("ALADIA_POSTGRES__PASSWORD", "explicit-pg")
    monkeypatch.setenv("ALADIA_POSTGRES__SSLMODE", "require")
    s = load_settings()
    assert s.kafka.security.sasl_password.get_secret_value() == "explicit"
    assert s.kafka.security.sasl_username == "aladia"  # the rest still from the file
    assert (s.postgres.sslmode, s.postgres.password.get_secret_value()) == ("require", "explicit-pg")


def test_another_data_dir_does_not_see_them(monkeypatch, tmp_path, ca):
    _client_file(tmp_path, {"postgres": {"sslmode": "verify-full"}})
    monkeypatch.setenv("ALADIA_DATA_DIR", str(tmp_path / "other"))
    assert load_settings().postgres.sslmode == "prefer"


def test_an_unreadable_client_file_is_one_line(tmp_path):
    path = tmp_path / "data" / SECURE_CLIENT_SETTINGS
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"client settings .* cannot be read"):
        load_settings()


def test_a_service_given_explicitly_as_another_one_takes_nothing_from_the_stacks_file(monkeypatch, tmp_path, ca):
    pw = tmp_path / "kafka.password"
    pw.write_text("generated-kafka-password\n")
    secure = {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "aladia"}
    _client_file(
        tmp_path,
        {
            "postgres": {"host": "127.0.0.1", "port": 5432, "sslmode": "verify-full", "sslrootcert": str(ca)},
            "kafka": {
                "bootstrap_servers": "127.0.0.1:9092",
                "security": {**secure, "sasl_password_file": str(pw), "ca_file": str(ca)},
            },
            "connect": {"url": "http://127.0.0.1:8083", "username": "aladia"},
        },
    )
    monkeypatch.setenv("ALADIA_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092")  # the same service: still applies
    monkeypatch.setenv("ALADIA_POSTGRES__PORT", "5432")
    s = load_settings()
    assert (s.kafka.security.protocol, s.postgres.sslmode, s.connect.username) == ("SASL_SSL", "verify-full", "aladia")
    monkeypatch.setenv("ALADIA_KAFKA__BOOTSTRAP_SERVERS", "b-1.prod.example.com:9096")
    monkeypatch.setenv("ALADIA_POSTGRES__HOST", "db.prod.example.com")
    monkeypatch.setenv("ALADIA_CONNECT__URL", "https://connect.prod.example.com")
    s = load_settings()
    assert s.kafka.security.protocol == "PLAINTEXT" and s.kafka.security.ca_file is None
    assert s.postgres.sslmode == "prefer" and s.postgres.sslrootcert is None
    assert s.connect.username is None


def test_a_client_file_writable_by_others_is_not_used(tmp_path):
    _client_file(tmp_path, {"postgres": {"sslmode": "verify-full"}})
    (tmp_path / "data" / SECURE_CLIENT_SETTINGS).chmod(0o666)
    with pytest.raises(ConfigError, match="not aladia's own"):
        load_settings()


def test_an_invalid_secret_is_never_quoted_in_its_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ALADIA_SERVE__TOKEN", "shortsecret1")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "shortsecret1" not in str(caught.value) and "16 characters" in caught.value.reason
    assert secrets.mask(caught.value.reason) == caught.value.reason  # nothing in it looks like a value to mask
    monkeypatch.setenv("ALADIA_SERVE__TOKEN", "tökén-with-ümlauts-0123456789")
    with pytest.raises(ConfigError, match="printable ASCII"):
        load_settings()


def test_a_secret_file_with_a_line_break_inside_is_refused(monkeypatch, tmp_path):
    path = tmp_path / "pw"
    path.write_text('first\n";evil=1\n')
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_PASSWORD_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "ALADIA_KAFKA__SECURITY__SASL_PASSWORD_FILE" in caught.value.reason and "evil" not in caught.value.reason
    monkeypatch.delenv("ALADIA_KAFKA__SECURITY__SASL_PASSWORD_FILE")
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__SASL_PASSWORD", 'a"\nb')
    with pytest.raises(ConfigError, match=r"SASL_PASSWORD .*control character"):
        load_settings()


def test_the_secured_brokers_configuration_comes_from_its_files_not_the_client_settings(monkeypatch, tmp_path):
    from aladia_etl.stack import secure
    from aladia_etl.stack.kafka import LocalKafka

    assert secure.create(load_settings(), plain_stack_exists=False)
    monkeypatch.setenv("ALADIA_KAFKA__SECURITY__PROTOCOL", "SSL")  # an explicit client setting
    kafka = LocalKafka(load_settings())
    props = kafka.server_properties()
    password = (tmp_path / "data" / "secure" / "kafka.password").read_text().strip()
    assert password in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert props["listener.security.protocol.map"] == "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "User:aladia" in props["super.users"].split(";")
    args = kafka.scram_users()
    assert password not in " ".join(args)  # the salted password on the command line, never the password
    assert args[0] == "--add-scram" and "saltedpassword=" in args[1] and "iterations=8192" in args[1]
