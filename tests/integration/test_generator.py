"""`aladia simulate --workers N --txn-size K` on the real stack: concurrent workers writing transactions of about K
changes keep the workload's invariants in the source database, commit exactly the transactions and changes they
count, and every change reaches Kafka (one record per change, a tombstone per delete)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import psycopg

from aladia_etl.bus.topics import cdc_topics
from aladia_etl.source.schema import CAPTURED_TABLES, LIFECYCLE, ORDER_STATUSES
from tests.helpers import run_cli
from tests.kafka_utils import end_offsets, key, value, wait_for_records

WORKERS, TXN_SIZE, EVENTS = 4, 10, 5000

# Orders whose total is not the sum of their items, or that have no items.
BAD_TOTALS = """
    SELECT o.id, o.total_amount, i.total
    FROM public.orders o
    LEFT JOIN (SELECT order_id, sum(quantity * unit_price) AS total FROM public.order_items GROUP BY order_id) i
        ON i.order_id = o.id
    WHERE i.total IS DISTINCT FROM o.total_amount
"""


def source(settings):
    return psycopg.connect(**settings.postgres.conninfo(), autocommit=True)


def row_counts(settings) -> dict[str, int]:
    with source(settings) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM public.{t}").fetchone()[0] for t in CAPTURED_TABLES}


def test_concurrent_batched_workload_keeps_its_invariants_and_every_change_reaches_kafka(pipeline, stack_env):
    bootstrap = pipeline.kafka.bootstrap_servers
    topics = cdc_topics(pipeline)
    start = end_offsets(bootstrap, topics)
    before = row_counts(pipeline)
    args = ["simulate", "--workers", str(WORKERS), "--txn-size", str(TXN_SIZE), "--events", str(EVENTS)]
    result = run_cli([*args, "--seed", "21", "--json"], stack_env)
    assert result.code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["changes"], stats["workers"], stats["txn_size"]) == (EVENTS, WORKERS, TXN_SIZE), stats
    assert EVENTS / (TXN_SIZE + 4) <= stats["transactions"] <= EVENTS / TXN_SIZE, stats
    expected = Counter({(table, op): n for table, ops in stats["by_table"].items() for op, n in ops.items()})
    assert sum(expected.values()) == EVENTS and {op for _, op in expected} == {"c", "u", "d"}

    # The source: totals are the sums of the items, statuses are statuses, rows are what the counts say.
    with source(pipeline) as conn:
        assert conn.execute(BAD_TOTALS).fetchall() == []
        statuses = {row[0] for row in conn.execute("SELECT DISTINCT status FROM public.orders")}
        assert statuses <= set(ORDER_STATUSES)
    after = row_counts(pipeline)
    for table in CAPTURED_TABLES:
        assert after[table] - before[table] == expected[(table, "c")] - expected[(table, "d")], table

    # Kafka: every change, a tombstone per delete, in exactly the transactions the workers counted.
    def changes(records) -> Counter:
        return Counter((r.topic.rsplit(".", 1)[-1], value(r)["op"]) for r in records if r.value is not None)

    deletes = sum(n for (_, op), n in expected.items() if op == "d")
    records = wait_for_records(bootstrap, topics, start, lambda rs: len(rs) >= EVENTS + deletes, timeout=180)
    assert changes(records) == expected
    tombstones = Counter(r.topic.rsplit(".", 1)[-1] for r in records if r.value is None)
    assert tombstones == Counter({t: n for (t, op), n in expected.items() if op == "d"})
    per_txn = Counter(value(r)["source"]["txId"] for r in records if r.value is not None)
    assert len(per_txn) == stats["transactions"]
    assert max(per_txn.values()) <= TXN_SIZE + 4
    assert sum(1 for n in per_txn.values() if n < TXN_SIZE) <= WORKERS  # only each worker's last one

    # Per row, in the order Kafka keeps for a key: statuses move along the lifecycle, nothing after a delete.
    history: dict[tuple[str, str], list] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        history[(record.topic.rsplit(".", 1)[-1], json.dumps(key(record), sort_keys=True))].append(value(record))
    for (table, row_key), events in history.items():
        deleted = False
        for event in events:
            if event is None:
                assert deleted, (table, row_key)  # a tombstone follows its delete
                continue
            assert not deleted, (table, row_key, event["op"])
            deleted = event["op"] == "d"
            if table == "orders" and event["op"] == "u":
                old, new = event["before"]["status"], event["after"]["status"]
                assert new == old or new in LIFECYCLE[old], (row_key, old, new)


def test_the_rate_counts_the_seconds_of_writing_not_of_loading_the_sources_state(pipeline, monkeypatch):
    """A large source takes its workers seconds to load before they write: the rate they report (and the bench
    judges) is changes per second of writing. Loading is made slow here; the rate and the writing time hold."""
    import time

    from aladia_etl.source.simulator import Simulator
    from aladia_etl.source.workload import simulate

    load = Simulator.load

    def slow_load(self):
        load(self)
        time.sleep(2.0)

    monkeypatch.setattr(Simulator, "load", slow_load)
    started = time.monotonic()
    stats = simulate(pipeline, rate=100, duration=3, seed=5, workers=2)
    assert time.monotonic() - started >= 5.0  # the loading did take its time
    assert 2.9 <= stats.elapsed_s <= 3.6, stats.elapsed_s
    assert abs(stats.rate - 100) <= 10, stats.rate
