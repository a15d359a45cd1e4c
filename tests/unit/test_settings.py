from __future__ import annotations

import pytest

from aladia_etl.core.errors import ConfigError, ExitCode
from aladia_etl.core.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith("ALADIA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_the_documented_addresses():
    s = load_settings()
    assert (s.postgres.host, s.postgres.port, s.postgres.user) == ("127.0.0.1", 5432, "postgres")
    assert s.postgres.password.get_secret_value() == "postgres"
    assert (s.postgres.source_db, s.postgres.warehouse_db) == ("sourcedb", "warehouse")
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert (s.kafka.host, s.kafka.port) == ("127.0.0.1", 9092)
    assert s.connect.url == "http://127.0.0.1:8083"
    assert (s.connect.host, s.connect.port) == ("127.0.0.1", 8083)


def test_nested_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("ALADIA_POSTGRES__PORT", "6543")
    monkeypatch.setenv("ALADIA_KAFKA__BOOTSTRAP_SERVERS", "broker1:19092,broker2:19092")
    monkeypatch.setenv("ALADIA_CONNECT__URL", "http://connect.example:18083/")
    monkeypatch.setenv("ALADIA_DATA_DIR", str(tmp_path / "d"))
    s = load_settings()
    assert s.postgres.port == 6543
    assert (s.kafka.host, s.kafka.port) == ("broker1", 19092)
    assert s.connect.url == "http://connect.example:18083"
    assert s.connect.port == 18083
    assert s.artifacts_dir == tmp_path / "d" / "cache"


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("ALADIA_POSTGRES__SOURCE_DB=shop\nALADIA_CDC__TOPIC_PREFIX=shop_db\n")
    s = load_settings()
    assert s.postgres.source_db == "shop"
    assert s.cdc.topic_prefix == "shop_db"


def test_password_is_masked_everywhere(monkeypatch):
    monkeypatch.setenv("ALADIA_POSTGRES__PASSWORD", "s3cr3t-value")
    s = load_settings()
    assert s.postgres.password.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(s)
    assert "s3cr3t-value" not in str(s.masked())
    assert s.masked()["postgres"]["password"].strip("*") == ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALADIA_POSTGRES__PORT", "not-a-port"),
        ("ALADIA_POSTGRES__PORT", "70000"),
        ("ALADIA_KAFKA__BOOTSTRAP_SERVERS", "host:notaport"),
        ("ALADIA_CONNECT__URL", "ftp://nope"),
        ("ALADIA_CDC__TOPIC_PARTITIONS", "0"),
        ("ALADIA_DATA_DIR", ""),  # the current directory: never the stack's by accident (nor what a purge empties)
        ("ALADIA_DATA_DIR", "  "),
    ],
)
def test_invalid_value_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert variable in message
    assert "\n" not in message
    assert info.value.exit_code == ExitCode.CONFIG


def test_invalid_password_value_is_not_echoed(monkeypatch):
    # A SecretStr accepts any string, so force a type error on a sibling to check the echo rule.
    monkeypatch.setenv("ALADIA_POSTGRES__PORT", "x")
    monkeypatch.setenv("ALADIA_POSTGRES__PASSWORD", "hunter2")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "hunter2" not in str(info.value)


def test_conninfo_carries_the_password_only_as_a_keyword():
    s = Settings(_env_file=None)
    info = s.postgres.conninfo("warehouse")
    assert info["dbname"] == "warehouse"
    assert info["password"] == "postgres"
