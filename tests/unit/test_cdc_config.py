from __future__ import annotations

import pytest

from aladia_etl.bus.topics import cdc_topics
from aladia_etl.cdc.connector import build_config, masked, validation_errors
from aladia_etl.core import versions
from aladia_etl.core.errors import UsageError
from aladia_etl.core.settings import Settings
from aladia_etl.source.schema import heartbeat_query


@pytest.fixture
def settings():
    return Settings(_env_file=None, postgres={"password": "pw-123"}, cdc={"topic_partitions": 3})


def test_config_has_the_safe_defaults(settings):
    config = build_config(settings)
    assert config["connector.class"] == versions.POSTGRES_CONNECTOR_CLASS
    assert config["plugin.name"] == "pgoutput"
    assert config["publication.name"] == "aladia_pub"
    assert config["publication.autocreate.mode"] == "disabled"
    assert config["slot.name"] == "aladia_slot"
    assert config["topic.prefix"] == "orders_db"
    assert config["decimal.handling.mode"] == "string"
    assert config["snapshot.mode"] == "initial"
    assert int(config["heartbeat.interval.ms"]) > 0
    assert config["heartbeat.action.query"] == heartbeat_query()
    assert config["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert config["topic.creation.default.partitions"] == "3"
    assert config["table.include.list"] == r"public\.customers,public\.products,public\.orders,public\.order_items"
    assert all(isinstance(v, str) for v in config.values())


def test_tables_subset_and_unknown_table(settings):
    assert build_config(settings, ("orders",))["table.include.list"] == r"public\.orders"
    with pytest.raises(UsageError) as info:
        build_config(settings, ("orders", "nope"))
    assert "nope" in str(info.value)


def test_topics_follow_the_prefix(settings):
    assert cdc_topics(settings)[0] == "orders_db.public.customers"


def test_masking_hides_passwords(settings):
    shown = masked(build_config(settings))
    assert shown["database.password"] == "********"
    assert "pw-123" not in str(shown)


def test_validation_errors_are_collected():
    answer = {
        "error_count": 2,
        "configs": [
            {"definition": {}, "value": {"name": "database.password", "errors": ["Authentication failed"]}},
            {"definition": {}, "value": None},
            {"definition": {}, "value": {"name": "slot.name", "errors": []}},
            {"definition": {}, "value": {"name": "database.hostname", "errors": ["Unable to connect"]}},
        ],
    }
    assert validation_errors(answer) == [
        ("database.password", "Authentication failed"),
        ("database.hostname", "Unable to connect"),
    ]
