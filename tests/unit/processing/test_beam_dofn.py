"""The Beam engine's DoFn on Beam's real FnApiRunner, over fake Kafka and PostgreSQL transports: it reads each
offset range through the shared reader and stages it through the shared processing path."""

from __future__ import annotations

import json

import pytest

from aladia_etl.warehouse.staging import StageStats
from tests.factories import record, row, topic
from tests.fakes import FakeConsumer, FakePostgres

T = topic("orders")


@pytest.fixture
def transports(monkeypatch):
    from aladia_etl.warehouse import staging

    values = [record("orders", row("orders", id=i), offset=i, lsn=100 + i)[4] for i in range(30)]
    values[7] = b"not json"
    values[8] = None  # a tombstone
    consumer = FakeConsumer({(T, 0): [(i, b"k", v) for i, v in enumerate(values)]})
    postgres = FakePostgres()
    monkeypatch.setattr("aladia_etl.processing.beam.transforms.range_consumer", lambda *a, **k: consumer)
    monkeypatch.setattr("aladia_etl.stack.connections.connect_conninfo", lambda *a, **k: postgres)
    staging._CONNECTIONS.clear()
    yield consumer, postgres
    staging._CONNECTIONS.clear()


def test_read_and_stage_runs_the_shared_path_per_range(transports):
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from aladia_etl.processing.beam.transforms import ReadAndStage

    consumer, postgres = transports
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _ = (
            p
            | beam.Create([(T, 0, 0, 10), (T, 0, 10, 30)])
            | beam.ParDo(ReadAndStage("fake:9092", {"dbname": "wh"}, "beam:s:1", dlq=None))
        )
    staged_ids = sorted(r[1] for r in postgres.copies["stg_orders"])
    assert staged_ids == [i for i in range(30) if i not in (7, 8)]
    assert {r[0] for r in postgres.copies["stg_orders"]} == {"beam:s:1"}
    assert [r[3] for r in postgres.copies["stg_dead_letters"]] == [7]
    stats = [StageStats.from_json(p[1]) for s, p in postgres.statements if s.startswith("INSERT INTO stg_stats")]
    total = StageStats()
    for s in stats:
        total.merge(s)
    assert (total.records, total.tombstones, total.dead_letters, total.row_count) == (30, 1, 1, 28)
    assert total.offsets == {(T, 0): 30}  # each range counts as read up to its end
    assert consumer.closed


def test_stats_json_is_what_the_apply_transaction_reads():
    stats = StageStats(records=2, offsets={(T, 0): 5})
    assert json.loads(stats.to_json())["offsets"] == [[T, 0, 5]]
