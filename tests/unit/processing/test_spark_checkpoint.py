"""A Spark checkpoint is bound to the brokers, topics and warehouse it was made for."""

from __future__ import annotations

import pytest

from aladia_etl.core.settings import Settings


def _name(settings: Settings, stream: str = "default") -> str:
    from aladia_etl.processing.spark.engine import checkpoint_name

    return checkpoint_name(settings, stream)


def _with(settings: Settings, section: str, **changes) -> Settings:
    return settings.model_copy(update={section: getattr(settings, section).model_copy(update=changes)})


def test_checkpoint_name_is_stable_and_starts_with_the_stream_name(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert _name(settings) == _name(Settings(data_dir=tmp_path))
    assert _name(settings, "nightly").startswith("nightly-")
    assert _name(settings, "nightly") != _name(settings, "default")


@pytest.mark.parametrize(
    ("section", "changes"),
    [
        ("cdc", {"topic_prefix": "other"}),
        ("kafka", {"bootstrap_servers": "127.0.0.1:19092"}),
        ("postgres", {"warehouse_db": "another_warehouse"}),
        ("postgres", {"port": 6543}),
    ],
)
def test_other_topics_or_another_warehouse_get_another_checkpoint(tmp_path, section, changes):
    settings = Settings(data_dir=tmp_path)
    assert _name(_with(settings, section, **changes)) != _name(settings)


def test_the_checkpoint_does_not_depend_on_what_does_not_bind_it(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert _name(_with(settings, "cdc", connector_name="renamed")) == _name(settings)
