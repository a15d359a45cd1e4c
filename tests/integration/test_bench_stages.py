"""The freshness breakdown of `aladia bench` on the real warehouse: each row's time is split at its batch's start
and claim, read from `pipeline_batches` (rows and batches written here with known times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aladia_etl.flows.bench.phases import stages

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_rows_time_is_split_at_its_batchs_start_and_claim(scratch_warehouse):
    _settings, conn = scratch_warehouse
    for batch_id, claimed, duration_ms in ((1, 2.0, 500), (2, 5.0, 1000), (3, 9.0, None)):
        conn.execute(
            "INSERT INTO pipeline_batches (engine, stream_id, batch_id, records, rows, dead_letters, applied_at, "
            "duration_ms) VALUES ('spark', 's', %s, 1, 1, 0, %s, %s)",
            (batch_id, at(claimed), duration_ms),
        )
    # (order id, source commit, merged): the first row is older than the window
    for order_id, committed, loaded in ((1, -5.0, 0.5), (2, 0.0, 2.1), (3, 3.0, 5.3), (4, 3.5, 5.2)):
        conn.execute(
            "INSERT INTO fact_order (order_id, source_lsn, source_commit_lsn, source_ts, loaded_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (order_id, order_id, order_id, at(committed), at(loaded)),
        )
    # a row of a batch without a recorded duration is left out, not given to an earlier batch
    conn.execute(
        "INSERT INTO fact_order_item (order_item_id, source_lsn, source_commit_lsn, source_ts, loaded_at) "
        "VALUES (1, 1, 1, %s, %s)",
        (at(8.0), at(9.5)),
    )
    found = stages(conn, ("fact_order", "fact_order_item"), T0)
    # row 2: batch 1 started at 1.5 (claimed at 2.0 after 0.5 s) → 1.5 s, 0.5 s, 0.1 s
    # rows 3 and 4: batch 2 started at 4.0 (claimed at 5.0 after 1 s) → 1.0 and 0.5 s, 1.0 s, 0.3 and 0.2 s
    assert found["to_batch_s"]["max_s"] == pytest.approx(1.5)
    assert found["to_batch_s"]["p50_s"] == pytest.approx(1.0)
    assert found["staging_s"]["mean_s"] == pytest.approx(2.5 / 3, abs=0.001)
    assert found["apply_s"]["p50_s"] == pytest.approx(0.2)
    assert found["apply_s"]["max_s"] == pytest.approx(0.3)
    means = sum(s["mean_s"] for s in found.values())
    assert means == pytest.approx((2.1 + 2.3 + 1.7) / 3, abs=0.002)  # the stages' means add up to the total's
    assert stages(conn, ("fact_order",), at(60)) == {}


def test_debeziums_part_is_each_records_kafka_time_less_its_source_commit(pipeline):
    """Records written with known Kafka timestamps to a real topic: only those after the given offsets count, and
    tombstones or records without a source time are skipped."""
    import json

    from kafka import KafkaProducer
    from kafka.admin import NewTopic

    from aladia_etl.bus.offsets import read_offsets
    from aladia_etl.flows.bench.phases import debezium_latencies
    from aladia_etl.flows.bench.setup import delete_topics
    from aladia_etl.stack.connections import admin, closing

    prefix = "bench-debezium-test"
    topic = f"{prefix}.public.orders"
    delete_topics(pipeline, prefix)
    with closing(admin(pipeline)) as client:
        client.create_topics([NewTopic(topic, 1, 1)])
    producer = KafkaProducer(bootstrap_servers=pipeline.kafka.bootstrap_servers, acks="all")
    try:

        def send(ts_ms: int, value: dict | None) -> None:
            body = None if value is None else json.dumps(value).encode()
            producer.send(topic, key=b"k", value=body, timestamp_ms=ts_ms).get(timeout=30)

        send(1_000_000, {"source": {"ts_ms": 999_000}})  # before the window
        since = read_offsets(pipeline, [topic])
        send(2_000_150, {"op": "c", "source": {"ts_ms": 2_000_000}})
        send(2_000_300, None)  # a tombstone
        send(2_000_400, {"op": "c", "source": {}})
        send(3_000_500, {"op": "u", "source": {"ts_ms": 3_000_000}})
        assert sorted(debezium_latencies(pipeline, since)) == [0.15, 0.5]
    finally:
        producer.close()
        delete_topics(pipeline, prefix)
