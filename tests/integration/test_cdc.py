"""CDC through the real Debezium connector in the real Kafka Connect worker."""

from __future__ import annotations

import json
import secrets
import time
from decimal import Decimal

import psycopg
import requests

from aladia_etl.bus.topics import cdc_topic
from aladia_etl.core.errors import ExitCode
from tests.helpers import run_cli
from tests.kafka_utils import end_offsets, key, value, wait_for_records


def test_register_is_running_and_idempotent(pipeline, stack_env):
    result = run_cli(["cdc", "register", "--json"], stack_env)
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert data["action"] == "unchanged"
    assert "partition count" not in result.stderr  # the topics have the partitions the settings ask for
    assert data["status"]["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in data["status"]["tasks"]] == ["RUNNING"]
    # The slot exists from registration on; it is active once the initial snapshot is done and streaming began.
    deadline = time.monotonic() + 60
    while True:
        report = json.loads(run_cli(["status", "--json"], stack_env).stdout)
        if report["cdc"]["slot"]["active"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert report["cdc"]["slot"]["present"] and report["cdc"]["slot"]["active"]
    assert report["cdc"]["connector"]["state"] == "RUNNING"


def test_register_notes_existing_topics_keep_their_partitions(pipeline, capsys):
    """Debezium creates topics with ALADIA_CDC__TOPIC_PARTITIONS; topics that exist are never repartitioned, and
    `cdc register` says so (checked in-process: the session's connector is not reconfigured)."""
    from aladia_etl.bus.offsets import partition_counts
    from aladia_etl.bus.topics import cdc_topics
    from aladia_etl.cli.cdc import note_partitions
    from aladia_etl.source.schema import CAPTURED_TABLES

    counts = partition_counts(pipeline, cdc_topics(pipeline))
    assert counts and set(counts.values()) == {1}
    note_partitions(pipeline, CAPTURED_TABLES)
    assert "note:" not in capsys.readouterr().err
    three = pipeline.model_copy(update={"cdc": pipeline.cdc.model_copy(update={"topic_partitions": 3})})
    note_partitions(three, CAPTURED_TABLES)
    said = capsys.readouterr().err
    assert f"note: {len(counts)} CDC topic(s) already exist with another partition count" in said
    assert "ALADIA_CDC__TOPIC_PARTITIONS=3 applies only to topics Debezium creates" in said
    unreachable = pipeline.model_copy(
        update={"kafka": pipeline.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})}
    )
    note_partitions(unreachable, CAPTURED_TABLES)  # a note, never a failure
    assert "note: could not read the CDC topics' partitions from Kafka" in capsys.readouterr().err


def test_invalid_config_shows_errors_and_leaves_nothing(pipeline, stack_env):
    env = {**stack_env, "ALADIA_POSTGRES__PASSWORD": "definitely-wrong"}
    result = run_cli(["cdc", "register", "--name", "broken-connector"], env)
    assert result.code == ExitCode.CONFIG, result.output
    assert "Connect rejected the connector configuration" in result.stderr
    assert "password" in result.stderr.lower() or "authentication" in result.stderr.lower()
    assert "definitely-wrong" not in result.output
    names = requests.get(pipeline.connect.url + "/connectors", timeout=10).json()
    assert "broken-connector" not in names


def test_config_is_masked_and_operations_work(pipeline, stack_env):
    name = pipeline.cdc.connector_name
    config = run_cli(["cdc", "config", name, "--json"], stack_env)
    assert config.code == 0
    data = json.loads(config.stdout)
    assert data["database.password"] == "********"
    assert data["decimal.handling.mode"] == "string"
    assert data["plugin.name"] == "pgoutput"

    assert run_cli(["cdc", "pause", name], stack_env).code == 0
    _wait_state(pipeline, name, "PAUSED")
    assert run_cli(["cdc", "resume", name], stack_env).code == 0
    _wait_state(pipeline, name, "RUNNING")
    assert run_cli(["cdc", "restart", name, "--include-tasks"], stack_env).code == 0
    _wait_state(pipeline, name, "RUNNING")
    listing = json.loads(run_cli(["cdc", "list", "--json"], stack_env).stdout)
    assert listing[name]["connector"]["state"] == "RUNNING"


def _wait_state(settings, name: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = requests.get(f"{settings.connect.url}/connectors/{name}/status", timeout=10).json()
        if st["connector"]["state"] == state and all(t["state"] == state for t in st["tasks"]):
            return
        time.sleep(0.3)
    raise AssertionError(f"{name} not {state}: {st}")


def test_unknown_connector_and_unreachable_connect(pipeline, stack_env):
    missing = run_cli(["cdc", "status", "no-such-connector"], stack_env)
    assert missing.code != 0 and "no connector named no-such-connector" in missing.stderr
    down = run_cli(["cdc", "list"], {**stack_env, "ALADIA_CONNECT__URL": "http://127.0.0.1:9"})
    assert down.code == ExitCode.UNAVAILABLE
    assert "http://127.0.0.1:9" in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1


def test_snapshot_events_for_seeded_rows(pipeline):
    topic = cdc_topic(pipeline, "products")
    start = {tp: 0 for tp in end_offsets(pipeline.kafka.bootstrap_servers, [topic])}
    with psycopg.connect(**pipeline.postgres.conninfo()) as conn:
        seeded = conn.execute("SELECT count(*) FROM products WHERE id <= 25").fetchone()[0]
    records = wait_for_records(
        pipeline.kafka.bootstrap_servers,
        [topic],
        start,
        lambda rs: sum(1 for r in rs if r.value and value(r)["op"] == "r") >= seeded,
    )
    snapshot = [value(r) for r in records if r.value and value(r)["op"] == "r"]
    assert len(snapshot) == seeded
    first = next(v for v in snapshot if v["after"]["id"] == 1)
    assert isinstance(first["after"]["price"], str)  # decimal.handling.mode=string
    assert first["before"] is None
    assert first["source"]["snapshot"] in (
        "first",
        "true",
        "last",
        "incremental",
        "last_in_data_collection",
        "first_in_data_collection",
        "true",
    )


def test_insert_update_delete_events_on_every_table(pipeline):
    bootstrap = pipeline.kafka.bootstrap_servers
    tables = ["customers", "products", "orders", "order_items"]
    topics = [cdc_topic(pipeline, t) for t in tables]
    start = end_offsets(bootstrap, topics)
    tag = secrets.token_hex(4)
    with psycopg.connect(**pipeline.postgres.conninfo()) as conn:
        cid = conn.execute(
            "INSERT INTO customers (name, email) VALUES (%s, %s) RETURNING id", (f"CDC {tag}", f"cdc.{tag}@example.com")
        ).fetchone()[0]
        pid = conn.execute(
            "INSERT INTO products (name, category, price) VALUES (%s, 'Books', 1234567890.12) RETURNING id",
            (f"Book {tag}",),
        ).fetchone()[0]
        oid = conn.execute(
            "INSERT INTO orders (customer_id, total_amount) VALUES (%s, 0.10) RETURNING id", (cid,)
        ).fetchone()[0]
        iid = conn.execute(
            "INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
            "VALUES (%s, %s, 3, 0.01) RETURNING id",
            (oid, pid),
        ).fetchone()[0]
        conn.commit()
        committed_at = conn.execute("SELECT created_at FROM orders WHERE id = %s", (oid,)).fetchone()[0]
        conn.execute("UPDATE customers SET email = %s WHERE id = %s", (f"new.{tag}@example.com", cid))
        conn.execute("UPDATE products SET price = 99999999.99 WHERE id = %s", (pid,))
        conn.execute("UPDATE orders SET status = 'paid', total_amount = 0.03 WHERE id = %s", (oid,))
        conn.execute("UPDATE order_items SET quantity = 4 WHERE id = %s", (iid,))
        conn.commit()
        conn.execute("DELETE FROM order_items WHERE id = %s", (iid,))
        conn.execute("DELETE FROM orders WHERE id = %s", (oid,))
        conn.execute("DELETE FROM products WHERE id = %s", (pid,))
        conn.execute("DELETE FROM customers WHERE id = %s", (cid,))
        conn.commit()
    ids = {"customers": cid, "products": pid, "orders": oid, "order_items": iid}

    def mine(records):
        return [r for r in records if key(r) and key(r)["id"] == ids[r.topic.rsplit(".", 1)[-1]]]

    records = wait_for_records(bootstrap, topics, start, lambda rs: len(mine(rs)) >= 16)
    events: dict[str, list] = {}
    for r in mine(records):
        events.setdefault(r.topic.rsplit(".", 1)[-1], []).append(r)
    for table in tables:
        kinds = [(value(r) or {}).get("op", "tombstone") for r in events[table]]
        assert kinds == ["c", "u", "d", "tombstone"], (table, kinds)
        create, update, delete, tombstone = (value(r) for r in events[table])
        assert create["before"] is None and create["after"]["id"] == ids[table]
        assert update["before"] == create["after"]  # REPLICA IDENTITY FULL: the complete old row
        assert delete["after"] is None and delete["before"]["id"] == ids[table]
        assert tombstone is None
        assert update["source"]["lsn"] > create["source"]["lsn"]
        assert delete["source"]["lsn"] > update["source"]["lsn"]
    products = [value(r) for r in events["products"][:3]]
    assert products[0]["after"]["price"] == "1234567890.12"
    assert products[1]["after"]["price"] == "99999999.99"
    assert Decimal(products[1]["before"]["price"]) == Decimal("1234567890.12")
    orders = [value(r) for r in events["orders"][:3]]
    assert orders[0]["after"]["total_amount"] == "0.10"
    assert orders[1]["after"]["status"] == "paid"
    assert orders[1]["after"]["total_amount"] == "0.03"
    item = value(events["order_items"][1])
    assert item["before"]["quantity"] == 3 and item["after"]["quantity"] == 4
    assert item["after"]["unit_price"] == "0.01"
    # Timestamps: ISO-8601 UTC strings equal to the database's values; commit time (source.ts_ms) close to now.
    from datetime import datetime

    created = datetime.fromisoformat(orders[0]["after"]["created_at"].replace("Z", "+00:00"))
    assert created == committed_at
    assert abs(orders[0]["source"]["ts_ms"] / 1000 - committed_at.timestamp()) < 60


def test_update_keeps_the_real_value_of_an_untouched_toasted_column(pipeline):
    bootstrap = pipeline.kafka.bootstrap_servers
    topic = cdc_topic(pipeline, "customers")
    notes = secrets.token_hex(60_000)  # 120 kB of incompressible text: stored out of line (TOAST)
    start = end_offsets(bootstrap, [topic])
    with psycopg.connect(**pipeline.postgres.conninfo()) as conn:
        cid = conn.execute(
            "INSERT INTO customers (name, email, notes) VALUES ('Toast', 'toast@example.com', %s) RETURNING id",
            (notes,),
        ).fetchone()[0]
        conn.commit()
        conn.execute("UPDATE customers SET email = 'toast2@example.com' WHERE id = %s", (cid,))
        conn.commit()
        toasted = conn.execute(
            "SELECT pg_column_size(notes) < octet_length(notes) OR "
            "pg_relation_size(reltoastrelid) > 0 FROM customers, pg_class "
            "WHERE customers.id = %s AND pg_class.relname = 'customers'",
            (cid,),
        ).fetchone()[0]
    assert toasted
    records = wait_for_records(
        bootstrap, [topic], start, lambda rs: any(r.value and key(r)["id"] == cid and value(r)["op"] == "u" for r in rs)
    )
    update = next(value(r) for r in records if r.value and key(r)["id"] == cid and value(r)["op"] == "u")
    assert update["after"]["email"] == "toast2@example.com"
    assert update["after"]["notes"] == notes
    assert "__debezium_unavailable_value" not in json.dumps(update)


def test_heartbeat_keeps_retained_wal_bounded_while_idle(pipeline):
    """WAL written elsewhere (another database) while the captured tables are idle must not pile up behind
    the slot: the heartbeat writes to the heartbeat table, the connector sees it and confirms the LSN."""
    from aladia_etl.cdc.service import slot_info

    with psycopg.connect(**pipeline.postgres.conninfo("postgres"), autocommit=True) as conn:
        began = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        conn.execute("CREATE TABLE IF NOT EXISTS wal_filler (id bigint, pad text)")
        for _ in range(4):
            conn.execute("INSERT INTO wal_filler SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g")
        conn.execute("DROP TABLE wal_filler")
        written = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", (began,)).fetchone()[0]
    assert written > 50 * 1024 * 1024, written  # without a heartbeat, all of this would stay behind the slot
    deadline = time.monotonic() + 90
    info = slot_info(pipeline)
    while time.monotonic() < deadline and info["retained_wal_bytes"] > 16 * 1024 * 1024:
        time.sleep(1)
        info = slot_info(pipeline)
    assert info["retained_wal_bytes"] <= 16 * 1024 * 1024, (info, written)


def test_delete_with_drop_slot_lets_the_same_name_register_again(pipeline, stack_env):
    env = {
        **stack_env,
        "ALADIA_CDC__SLOT_NAME": "second_slot",
        "ALADIA_CDC__TOPIC_PREFIX": "second_db",
        "ALADIA_CDC__CONNECTOR_NAME": "second-connector",
    }
    for _ in range(2):  # the second registration would fail on stale offsets if delete kept them
        registered = run_cli(["cdc", "register", "--json"], env)
        assert registered.code == 0, registered.output
        assert json.loads(registered.stdout)["action"] == "created"
        deleted = run_cli(["cdc", "delete", "--drop-slot"], env)
        assert deleted.code == 0, deleted.output
        assert "dropped replication slot second_slot" in deleted.stderr
    from aladia_etl.cdc.service import slot_info

    second = pipeline.model_copy(update={"cdc": pipeline.cdc.model_copy(update={"slot_name": "second_slot"})})
    assert slot_info(second) == {"slot": "second_slot", "present": False}


def test_compacted_cdc_topics_are_refused_and_status_warns(pipeline, stack_env):
    """Compaction deletes older changes of a key — unapplied ones too — without moving the log start: no gap check
    could see it. `cdc register` refuses such topics in one line (exit 3, nothing registered); `status` warns."""
    from kafka.admin import NewTopic

    from aladia_etl.flows.bench.setup import delete_topics
    from aladia_etl.stack.connections import admin, closing

    prefix = "compacted"
    settings = pipeline.model_copy(update={"cdc": pipeline.cdc.model_copy(update={"topic_prefix": prefix})})
    env = {**stack_env, "ALADIA_CDC__TOPIC_PREFIX": prefix, "ALADIA_CDC__CONNECTOR_NAME": "compacted-connector"}
    delete_topics(settings, prefix)
    with closing(admin(settings)) as client:
        client.create_topics([NewTopic(f"{prefix}.public.orders", 1, 1, topic_configs={"cleanup.policy": "compact"})])
    try:
        result = run_cli(["cdc", "register"], env, timeout=120)
        assert result.code == 3, result.output
        line = result.stderr.strip()
        assert "\n" not in line and "cleanup.policy=compact" in line and "cleanup.policy=delete" in line
        listed = run_cli(["cdc", "list", "--json"], env)
        assert "compacted-connector" not in listed.stdout
        status = json.loads(run_cli(["status", "--json"], env).stdout)
        assert any("cleanup.policy=compact" in w for w in status.get("warnings", [])), status.get("warnings")
    finally:
        delete_topics(settings, prefix)
