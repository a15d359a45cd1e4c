"""`aladia simulate` pacing and event accounting; `aladia topics`, `consume`, `produce` on real Kafka."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

from aladia_etl.bus.topics import cdc_topics
from tests.helpers import run_cli
from tests.kafka_utils import end_offsets, value, wait_for_records


def test_simulate_achieves_the_rate_and_every_change_reaches_kafka(pipeline, stack_env):
    bootstrap = pipeline.kafka.bootstrap_servers
    topics = cdc_topics(pipeline)
    start = end_offsets(bootstrap, topics)
    # Only this run's changes count: Debezium may still be publishing an earlier test's, committed before now.
    began_ms = time.time() * 1000 - 1
    result = run_cli(["simulate", "--rate", "200", "--duration", "10", "--seed", "11", "--json"], stack_env)
    assert result.code == 0, result.output
    stats = json.loads(result.stdout)
    assert abs(stats["rate"] - 200) <= 20, stats
    assert 9.5 <= stats["elapsed_s"] <= 11, stats
    expected = Counter({(table, op): n for table, ops in stats["by_table"].items() for op, n in ops.items()})
    assert sum(expected.values()) == stats["changes"]
    assert {op for _, op in expected} == {"c", "u", "d"}

    def ours(record) -> bool:
        return record.value is not None and value(record)["source"]["ts_ms"] >= began_ms

    def changes(records) -> Counter:
        return Counter((r.topic.rsplit(".", 1)[-1], value(r)["op"]) for r in records if ours(r))

    records = wait_for_records(bootstrap, topics, start, lambda rs: sum(changes(rs).values()) >= stats["changes"])
    assert changes(records) == expected
    # each of this run's deletes is followed, in its partition, by a tombstone
    tombstones, after_our_delete = Counter(), {}
    for r in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        where = (r.topic, r.partition)
        if r.value is None:
            tombstones[r.topic.rsplit(".", 1)[-1]] += after_our_delete.get(where, False)
        after_our_delete[where] = ours(r) and value(r)["op"] == "d"
    assert tombstones == Counter({t: n for (t, op), n in expected.items() if op == "d"})


def test_simulate_events_is_exact_and_rejects_bad_input(pipeline, stack_env):
    result = run_cli(["simulate", "--events", "500", "--json"], stack_env)
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["changes"] == 500
    bad = run_cli(["simulate", "--events", "5", "--mix", "insert=x"], stack_env)
    assert bad.code == 2 and "--mix" in bad.stderr and "Traceback" not in bad.output
    neither = run_cli(["simulate"], stack_env)
    assert neither.code == 2 and "--duration" in neither.stderr


def test_topics_lists_cdc_topics_with_offsets_and_group_lag(pipeline, stack_env):
    from kafka import KafkaConsumer

    topic = cdc_topics(pipeline)[0]
    group = f"lag-{uuid.uuid4().hex[:6]}"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=pipeline.kafka.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=3,
    )
    polled = {}
    while not polled:
        polled = consumer.poll(timeout_ms=1000, max_records=3)
    consumer.commit()
    committed = sum(consumer.position(tp) for tp in polled)
    consumer.close()
    result = run_cli(["topics", "--groups", "--json"], stack_env)
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    by_name = {t["name"]: t for t in data["topics"]}
    assert set(cdc_topics(pipeline)) <= set(by_name)
    assert not any(name.startswith("_aladia_connect") for name in by_name)
    end = by_name[topic]["messages"]
    lag = next(g for g in data["groups"] if g["group"] == group and g["topic"] == topic)
    assert lag["lag"] == end - committed


def test_produce_then_consume(pipeline, stack_env):
    topic = f"samples-{uuid.uuid4().hex[:6]}"
    produced = run_cli(["produce", topic, "--count", "7", "--json"], stack_env)
    assert produced.code == 0, produced.output
    assert json.loads(produced.stdout)["count"] == 7
    consumed = run_cli(["consume", topic, "--from-beginning", "--max", "7", "--json"], stack_env)
    lines = [json.loads(line) for line in consumed.stdout.splitlines()]
    assert [line["value"]["n"] for line in lines] == list(range(7))


def test_consume_pretty_prints_debezium_envelopes_and_tombstones(pipeline, stack_env):
    topic = cdc_topics(pipeline)[2]  # orders: has deletes (tombstones) from the simulator
    result = run_cli(["consume", topic, "--from-beginning", "--timeout", "3", "--json"], stack_env)
    assert result.code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = Counter(line["kind"] for line in lines)
    assert kinds["change"] > 0 and kinds["tombstone"] > 0
    change = next(line for line in lines if line["kind"] == "change" and line["op"] == "u")
    assert change["table"] == "orders" and change["lsn"] and change["commit_time"]
    assert change["before"]["id"] == change["after"]["id"]
    text = run_cli(["consume", topic, "--from-beginning", "--max", "3"], stack_env)
    assert "orders" in text.stdout and "lsn=" in text.stdout
    missing = run_cli(["consume", "no-such-topic", "--timeout", "1"], stack_env)
    assert missing.code != 0 and "does not exist" in missing.stderr
