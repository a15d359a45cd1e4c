"""Order across the snapshot boundary, on the real stack: a transaction that begins while the replication slot is
being created, writes before the slot's consistent point and commits after Debezium's snapshot has read its rows
is streamed with change LSNs below the snapshot's. Its update and its delete must still win over the snapshot rows.

Slot creation waits for the transactions running when it starts (T1), then for those running when it has a full
snapshot (T1b); a transaction that begins after that (T2) is not waited for. A CHECKPOINT logs the running
transactions, which moves slot creation on without waiting for the next periodic record."""

from __future__ import annotations

import threading
import time

import pytest

from aladia_etl.bus.topics import cdc_topics
from tests.kafka_utils import end_offsets, read_range, value


@pytest.fixture
def race_source(stack, stack_settings):
    from aladia_etl.cdc.service import delete
    from aladia_etl.flows.bench.setup import drop_database, recreate_database
    from aladia_etl.source.bootstrap import bootstrap
    from aladia_etl.source.seed import SeedSpec

    names = {"db": "race_src", "wh": "race_wh"}
    for db in names.values():
        recreate_database(stack_settings, db)
    settings = stack_settings.model_copy(
        update={
            "postgres": stack_settings.postgres.model_copy(
                update={"source_db": names["db"], "warehouse_db": names["wh"]}
            ),
            "cdc": stack_settings.cdc.model_copy(
                update={
                    "topic_prefix": "race",
                    "slot_name": "race_slot",
                    "publication": "race_pub",
                    "connector_name": "race-connector",
                }
            ),
        }
    )
    bootstrap(settings, SeedSpec(customers=20, products=5, orders=10, rng_seed=1))
    yield settings
    delete(settings, "race-connector", drop_slot=True)
    for db in names.values():
        drop_database(stack_settings, db)


def test_a_change_committed_after_the_snapshot_wins_over_the_snapshot_row(race_source):
    from aladia_etl.cdc.service import register
    from aladia_etl.processing.bundle import stage
    from aladia_etl.stack.connections import connect
    from aladia_etl.warehouse import loader
    from aladia_etl.warehouse.schema import ensure_schema
    from aladia_etl.warehouse.verify import verify

    s = race_source
    admin = connect(s, "postgres", autocommit=True)

    def xid(conn) -> int:
        return conn.execute("SELECT txid_current()").fetchone()[0]

    def slot_waits_on(x: int) -> bool:
        return admin.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'walsender' "
            "AND NOT l.granted AND l.locktype = 'transactionid' AND l.transactionid::text = %s",
            (str(x),),
        ).fetchone()[0]

    def wait(predicate, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    t1 = connect(s, s.postgres.source_db)
    x1 = xid(t1)
    registering = threading.Thread(target=lambda: register(s, timeout=180))
    registering.start()
    wait(lambda: slot_waits_on(x1), "slot creation to wait for T1")
    t1b = connect(s, s.postgres.source_db)
    x1b = xid(t1b)
    t1.commit()
    admin.execute("CHECKPOINT")
    wait(lambda: slot_waits_on(x1b), "slot creation to wait for T1b")
    t2 = connect(s, s.postgres.source_db)  # begins after the full snapshot: not waited for
    t2.execute("UPDATE customers SET name = 'Changed By T2' WHERE id = 5")
    t2.execute("DELETE FROM order_items WHERE order_id = 3")
    t2.execute("DELETE FROM orders WHERE id = 3")
    t1b.commit()
    admin.execute("CHECKPOINT")

    bootstrap = s.kafka.bootstrap_servers
    topics = cdc_topics(s)

    def snapshot_has_order_3() -> bool:
        records = read_range(bootstrap, {}, end_offsets(bootstrap, topics))
        return any(
            (v := value(r)) and v["op"] == "r" and v["source"]["table"] == "orders" and v["after"]["id"] == 3
            for r in records
        )

    wait(snapshot_has_order_3, "the snapshot to read order 3", timeout=120)
    t2.commit()
    registering.join(timeout=180)

    def streamed() -> list:
        return [
            v
            for r in read_range(bootstrap, {}, end_offsets(bootstrap, topics))
            if (v := value(r)) and v["op"] in ("u", "d")
        ]

    wait(lambda: len(streamed()) >= 2 + 1, "T2's changes in Kafka", timeout=60)
    records = read_range(bootstrap, {}, end_offsets(bootstrap, topics))
    snapshot_lsn = next(value(r)["source"]["lsn"] for r in records if value(r) and value(r)["op"] == "r")
    t2_changes = streamed()  # nothing else changes the race database
    assert t2_changes and all(v["source"]["lsn"] < snapshot_lsn for v in t2_changes), "the race did not happen"

    with loader.connect(s) as conn:
        ensure_schema(conn)
        token = loader.batch_token("race", "test", 1)
        conninfo = s.postgres.conninfo(s.postgres.warehouse_db)
        stage(conninfo, token, [(r.topic, r.partition, r.offset, r.key, r.value) for r in records])
        assert loader.apply_batch(conn, "race", "test", 1).applied
        assert conn.execute("SELECT name FROM v_customer WHERE customer_id = 5").fetchone() == ("Changed By T2",)
        assert conn.execute("SELECT count(*) FROM v_order WHERE order_id = 3").fetchone() == (0,)
    assert verify(s).ok
    for conn in (t1, t1b, t2, admin):
        conn.close()
