"""`aladia dlq list|show|replay|purge` on the real warehouse PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from aladia_etl.processing.bundle import stage
from aladia_etl.warehouse import loader
from tests.factories import POISON, raw_record, record, row, topic
from tests.helpers import run_cli


@pytest.fixture
def dead(scratch_warehouse, stack_env):
    """Two dead letters from a real batch (poison), and one an earlier release rejected that is valid today."""
    settings, conn = scratch_warehouse
    conninfo = settings.postgres.conninfo(settings.postgres.warehouse_db)
    token = loader.batch_token("spark", "dlq-test", 0)
    stage(
        conninfo,
        token,
        [
            record("orders", row("orders", id=1), offset=0, lsn=10),
            raw_record("orders", POISON["not_json"], offset=1),
            raw_record("orders", POISON["nul_in_name"], offset=2),
        ],
    )
    assert loader.apply_batch(conn, "spark", "dlq-test", 0).applied
    fixed = record("orders", row("orders", id=2, status="paid"), offset=3, lsn=20)
    conn.execute(
        "INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, engine, reason, raw_key, raw_value) "
        "VALUES (%s, 0, 3, 'spark', 'status: rejected by an older rule', %s, %s)",
        (topic("orders"), fixed[3], fixed[4]),
    )
    env = {**stack_env, "ALADIA_POSTGRES__WAREHOUSE_DB": settings.postgres.warehouse_db}
    return env, conn


def cli_json(args, env):
    result = run_cli([*args, "--json"], env)
    assert result.code == 0, result.output
    return json.loads(result.stdout)


def test_list_show_replay_purge(dead):
    env, conn = dead
    listed = cli_json(["dlq", "list"], env)
    assert [d["offset"] for d in listed] == [1, 2, 3]
    assert all(d["status"] == "dead" for d in listed)
    assert [d["offset"] for d in cli_json(["dlq", "list", "--reason", "OLDER RULE"], env)] == [3]

    shown = cli_json(["dlq", "show", str(listed[0]["id"])], env)
    assert shown["topic"] == topic("orders") and shown["offset"] == 1
    assert shown["value"]["text"] == POISON["not_json"].decode() and "malformed JSON" in shown["reason"]

    offsets_before = loader.applied_offsets(conn, "spark")
    replayed = cli_json(["dlq", "replay", "--all"], env)
    assert replayed["replayed"] == [listed[2]["id"]]
    assert sorted(d["id"] for d in replayed["still_dead"]) == [listed[0]["id"], listed[1]["id"]]
    assert conn.execute("SELECT status FROM v_order WHERE order_id = 2").fetchone() == ("paid",)
    assert loader.applied_offsets(conn, "spark") == offsets_before  # a replay never moves offsets
    audit = cli_json(["dlq", "list", "--status", "replayed"], env)
    assert [d["offset"] for d in audit] == [3] and audit[0]["replay_attempts"] == 1
    again = cli_json(["dlq", "replay", str(listed[2]["id"]), "999999"], env)
    assert {s["id"]: s["why"] for s in again["skipped"]} == {
        listed[2]["id"]: "already replayed",
        999999: "no such dead letter",
    }

    kept = cli_json(["dlq", "purge", "--before", (date.today() - timedelta(days=1)).isoformat()], env)
    assert kept["deleted"] == 0
    purged = cli_json(["dlq", "purge", "--before", (date.today() + timedelta(days=1)).isoformat()], env)
    assert purged["deleted"] == 3
    assert cli_json(["dlq", "list", "--status", "all"], env) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["dlq", "show", "12345"], "no dead letter with id 12345"),
        (["dlq", "replay"], "give dead letter ids or --all"),
        (["dlq", "list", "--status", "zombie"], "--status"),
        (["dlq", "purge", "--before", "soon"], "--before"),
    ],
)
def test_dlq_bad_input(dead, args, needle):
    env, _ = dead
    result = run_cli(args, env)
    assert result.code != 0 and needle in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_failed_replay_leaves_nothing_staged(dead, scratch_warehouse, monkeypatch):
    """A replay whose apply fails (here: the merge raises) clears what it staged, and holds no writer's lock after."""
    from aladia_etl.processing import replay
    from aladia_etl.warehouse.schema import STAGING_TABLES

    settings, conn = scratch_warehouse

    def broken(*args, **kwargs):
        raise RuntimeError("the merge failed")

    monkeypatch.setattr(replay.loader, "merge_staged", broken)
    with pytest.raises(RuntimeError, match="the merge failed"):
        replay.replay(settings)
    for table in STAGING_TABLES:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    assert conn.execute("SELECT count(*) FROM pipeline_streams").fetchone()[0] == 0
    assert all(r[0] == "dead" for r in conn.execute("SELECT status FROM dead_letters"))
