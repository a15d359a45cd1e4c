"""The holes a hostile review found, closed — each on the real stack with both engines where it applies:

- valid values whose sum overflowed the daily summary and stopped the stream for good;
- a false data-loss alarm after Kafka's log start moved past records that were all applied (`--from-beginning`);
- a topic deleted and created again, grown past the old position, going unnoticed;
- two streams of one name at once (refused), and two Beam streams overlapping on one warehouse (never advancing
  past what the warehouse applied);
- a dead-letter replay and a Spark and a Beam stream writing one warehouse at once.

Records for the gap and overflow cases are Debezium-shaped envelopes produced to topics of a prefix of the test's
own (the real source's topics are left alone); the concurrency cases stream the real source into a warehouse of
their own and `aladia verify` it.
"""

from __future__ import annotations

import json
import os
import signal
import time
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.helpers import (
    assert_exact,
    batches_applied,
    spawn_stream,
    stop,
    wait_running,
    wait_until,
    warehouse,
    workload,
)
from tests.helpers import fresh_database, run_cli

DAY = "2026-11-20T10:00:00Z"


def order(id_: int, lsn: int, total: str = "10.00") -> dict:
    image = {"id": id_, "customer_id": 1, "status": "paid", "total_amount": total, "created_at": DAY, "updated_at": DAY}
    return {
        "before": None,
        "after": image,
        "source": {"lsn": lsn, "ts_ms": 1_764_064_800_000, "table": "orders"},
        "op": "c",
    }


def item(id_: int, order_id: int, lsn: int, qty: int) -> dict:
    image = {
        "id": id_,
        "order_id": order_id,
        "product_id": 1,
        "quantity": qty,
        "unit_price": "1.00",
        "created_at": DAY,
        "updated_at": DAY,
    }
    return {
        "before": None,
        "after": image,
        "source": {"lsn": lsn, "ts_ms": 1_764_064_800_000, "table": "order_items"},
        "op": "c",
    }


class Topics:
    """Topics `<prefix>.public.<table>` of the test's own on the session's broker."""

    def __init__(self, settings, prefix: str) -> None:
        self.bootstrap = settings.kafka.bootstrap_servers
        self.prefix = prefix
        self.settings = settings.model_copy(update={"cdc": settings.cdc.model_copy(update={"topic_prefix": prefix})})

    def topic(self, table: str) -> str:
        return f"{self.prefix}.public.{table}"

    def produce(self, table: str, payloads: list[dict]) -> int:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            futures = [
                producer.send(
                    self.topic(table), key=json.dumps({"id": p["after"]["id"]}).encode(), value=json.dumps(p).encode()
                )
                for p in payloads
            ]
            return max(f.get(timeout=30).offset for f in futures) + 1
        finally:
            producer.close()

    def delete_records(self, table: str, before: int) -> None:
        """What retention does: the partition's log start moves to `before`."""
        from kafka import TopicPartition

        from aladia_etl.stack.connections import admin, closing

        with closing(admin(self.settings)) as client:
            client.delete_records({TopicPartition(self.topic(table), 0): before})

    def recreate(self, table: str) -> None:
        """Delete the topic and create it again (empty, another topic id)."""
        from kafka.admin import NewTopic

        from aladia_etl.stack.connections import admin, closing

        name = self.topic(table)
        with closing(admin(self.settings)) as client:
            client.delete_topics([name])
        with closing(admin(self.settings)) as client:
            wait_until(lambda: name not in client.list_topics(), 60, 0.2, what=f"{name} to be deleted")
            client.create_topics([NewTopic(name, 1, 1)])
            wait_until(lambda: name in client.list_topics(), 60, 0.2, what=f"{name} to exist again")

    def drop(self) -> None:
        from aladia_etl.flows.bench.setup import delete_topics

        delete_topics(self.settings, self.prefix)


@pytest.fixture
def own_topics(request, stack, stack_settings, stack_env, engine):
    """Topics of a prefix of the test's own and an empty warehouse: (Topics, env)."""
    prefix = f"holes{zlib.crc32(request.node.name.encode())}"
    topics = Topics(stack_settings, prefix)
    topics.drop()
    with fresh_database(stack_settings, "wh_holes") as name:
        env = {**stack_env, "ALADIA_CDC__TOPIC_PREFIX": prefix, "ALADIA_POSTGRES__WAREHOUSE_DB": name}
        try:
            yield topics, env
        finally:
            topics.drop()


def errors(stderr: str) -> list[str]:
    """The error lines a command printed (each error is one line; progress lines come before it)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def stream_result(env: dict, engine: str, *args: str):
    return run_cli(["stream", "--engine", engine, "--until-idle", "--json", *args], env, timeout=900)


def in_warehouse(env: dict, stack_settings, sql: str, params=()) -> list[tuple]:
    target = stack_settings.postgres.model_copy(update={"warehouse_db": env["ALADIA_POSTGRES__WAREHOUSE_DB"]})
    with warehouse(stack_settings.model_copy(update={"postgres": target})) as conn:
        return conn.execute(sql, params).fetchall()


def test_values_whose_sum_overflowed_the_summary_stream_through(own_topics, engine, stack_settings):
    topics, env = own_topics
    biggest = "9999999999.99"
    topics.produce("orders", [order(i, 100 + i, biggest) for i in range(1, 102)])
    topics.produce("order_items", [item(1, 1, 500, 2_000_000_000), item(2, 2, 501, 2_000_000_000)])
    result = stream_result(env, engine)
    assert result.code == 0, result.output[-3000:]
    assert json.loads(result.stdout)["lag"] == 0
    (row,) = in_warehouse(env, stack_settings, "SELECT orders, revenue, items_sold FROM daily_sales_summary")
    assert row == (101, Decimal(biggest) * 101, 4_000_000_000)


def test_no_false_alarm_after_retention_and_real_loss_still_found(own_topics, engine, stack_settings):
    """Seen: after the log start moved past records that were all applied, `--from-beginning` exited 9."""
    topics, env = own_topics
    end = topics.produce("orders", [order(i, 100 + i) for i in range(1, 21)])
    assert stream_result(env, engine).code == 0
    topics.delete_records("orders", end)  # retention removed records that were all applied
    replay = stream_result(env, engine, "--from-beginning")
    assert replay.code == 0, replay.output[-3000:]
    assert replay.code == 0 and stream_result(env, engine, "--from-beginning").code == 0  # and again
    assert in_warehouse(env, stack_settings, "SELECT count(*) FROM pipeline_gaps") == [(0,)]

    lost_end = topics.produce("orders", [order(i, 100 + i) for i in range(21, 31)])
    topics.delete_records("orders", lost_end)  # these ten were never applied
    for args in ((), ("--from-beginning",)):
        lost = stream_result(env, engine, *args)
        assert lost.code == 9, lost.output[-3000:]
        (error,) = errors(lost.stderr)
        assert f"offsets {end}..{lost_end - 1} of {topics.topic('orders')}[0] were deleted" in error
    accepted = stream_result(env, engine, "--accept-data-loss")
    assert accepted.code == 0, accepted.output[-3000:]
    assert in_warehouse(env, stack_settings, "SELECT from_offset, to_offset FROM pipeline_gaps") == [(end, lost_end)]


def test_a_topic_deleted_and_created_again_is_found_even_grown_past_the_old_position(
    own_topics, engine, stack_settings
):
    topics, env = own_topics
    topics.produce("orders", [order(i, 100 + i) for i in range(1, 6)])
    assert stream_result(env, engine).code == 0
    topics.recreate("orders")
    grown = topics.produce("orders", [order(i, 1000 + i) for i in range(101, 109)])
    assert grown > 5  # past the applied position: only the topic id tells
    found = stream_result(env, engine)
    assert found.code == 9, found.output[-3000:]
    (error,) = errors(found.stderr)
    assert "was deleted and created again" in error
    accepted = stream_result(env, engine, "--accept-data-loss")
    assert accepted.code == 0, accepted.output[-3000:]
    new_rows = in_warehouse(env, stack_settings, "SELECT order_id FROM fact_order WHERE order_id > 100 ORDER BY 1")
    assert [r[0] for r in new_rows] == list(range(101, 109))  # the new topic is read from its start
    assert len(in_warehouse(env, stack_settings, "SELECT * FROM pipeline_gaps")) == 1


# -- writers ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def own_warehouse(pipeline, stack_env, stack_settings):
    with fresh_database(stack_settings, "wh_writers") as name:
        yield {**stack_env, "ALADIA_POSTGRES__WAREHOUSE_DB": name}


def test_a_second_stream_of_the_same_name_is_refused(own_warehouse, engine):
    first = spawn_stream(own_warehouse, engine, "--name", "dup")
    try:
        wait_running(first, own_warehouse)
        second = run_cli(["stream", "--engine", engine, "--name", "dup", "--until-idle"], own_warehouse, timeout=300)
        assert second.code == 5, second.output[-3000:]
        (line,) = errors(second.stderr)
        assert f"a {engine} stream named 'dup' is already running" in line and "pid" in line
    finally:
        code, err = stop(first)
    assert code == 0, err[-3000:]


def test_overlapping_beam_streams_never_skip_what_the_warehouse_did_not_apply(own_warehouse):
    """Seen: two Beam streams overlapping on one warehouse during a workload, then a final run that reported lag 0,
    and rows missing for good. Now a pane that does not continue the warehouse's offsets is refused whole."""
    running = workload(own_warehouse, "--duration", "20", "--seed", "2201")
    streams = [spawn_stream(own_warehouse, "beam", "--name", name, "--trigger-interval", "200ms") for name in "ab"]
    try:
        time.sleep(25)
        assert running.wait(timeout=300) == 0, running.stderr.read()
    finally:
        outcomes = [stop(s) for s in streams]
    for code, err in outcomes:
        assert code in (0, 5), err[-3000:]  # stopped, or refused a batch the other one had applied
        if code == 5:
            assert "another writer applied records of this engine" in err or "already in the warehouse" in err
    final = run_cli(["stream", "--engine", "beam", "--until-idle", "--json"], own_warehouse, timeout=900)
    assert final.code == 0, final.output[-3000:]
    assert_exact(own_warehouse)


def test_a_replay_and_two_engines_writing_one_warehouse_at_once(own_warehouse, stack_settings):
    """`dlq replay` (old valid changes of orders, kept as dead letters) while a Spark and a Beam stream apply a
    workload to the same warehouse: no writer fails, and the warehouse (daily summary included) is exact."""
    from aladia_etl.bus.topics import cdc_topic
    from aladia_etl.warehouse.schema import ensure_schema
    from tests.kafka_utils import end_offsets, read_range

    target = stack_settings.postgres.model_copy(update={"warehouse_db": own_warehouse["ALADIA_POSTGRES__WAREHOUSE_DB"]})
    settings = stack_settings.model_copy(update={"postgres": target})
    topic = cdc_topic(stack_settings, "orders")
    records = read_range(
        stack_settings.kafka.bootstrap_servers, {}, end_offsets(stack_settings.kafka.bootstrap_servers, [topic])
    )
    with warehouse(settings) as conn:
        ensure_schema(conn)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, engine, reason, raw_key, "
                "raw_value) VALUES (%s, %s, %s, 'spark', 'rejected by an older rule', %s, %s)",
                [(r.topic, r.partition, r.offset, r.key, r.value) for r in records if r.value][:400],
            )
    streams = [spawn_stream(own_warehouse, engine, "--trigger-interval", "200ms") for engine in ("spark", "beam")]
    try:
        for s in streams:
            wait_running(s, own_warehouse)
        running = workload(own_warehouse, "--duration", "15", "--seed", "2202")
        replay = run_cli(["dlq", "replay", "--all", "--json"], own_warehouse, timeout=600)
        assert replay.code == 0, replay.output[-3000:]
        assert json.loads(replay.stdout)["replayed"]
        assert running.wait(timeout=300) == 0, running.stderr.read()
    finally:
        outcomes = [stop(s) for s in streams]
    assert all(code == 0 for code, _ in outcomes), [err[-2000:] for _, err in outcomes]
    for engine in ("spark", "beam"):
        final = run_cli(["stream", "--engine", engine, "--until-idle", "--json"], own_warehouse, timeout=900)
        assert final.code == 0, final.output[-3000:]
    assert_exact(own_warehouse)


def children(parent: int, marker: bytes) -> list[int]:
    """The processes the stream `parent` started whose command line holds `marker` (checked by parent pid)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and marker in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize(("victim", "marker"), [("an SDK worker", b"SdkHarness"), ("Prism", b"--job_port")])
def test_kill_9_of_a_beam_pipeline_process_mid_stream_ends_exact(own_warehouse, stack_settings, victim, marker):
    """A process of the running pipeline (a worker, or the runner itself) killed with -9 during a workload: the job
    ends, the stream relaunches it from the warehouse's offsets, and the warehouse ends exact; once the stream
    stopped, none of the pipeline's processes is left."""
    running = workload(own_warehouse, "--duration", "15", "--seed", "2301")
    proc = spawn_stream(own_warehouse, "beam", "--trigger-interval", "200ms")
    started: set[int] = set()
    try:
        wait_running(proc, own_warehouse)
        target = stack_settings.postgres.model_copy(
            update={"warehouse_db": own_warehouse["ALADIA_POSTGRES__WAREHOUSE_DB"]}
        )
        settings = stack_settings.model_copy(update={"postgres": target})
        wait_until(lambda: batches_applied(settings, "beam") >= 3, 120, what="batches applied")  # mid-workload
        assert running.poll() is None  # the workload still runs
        found = children(proc.pid, marker)
        assert found, f"no {victim} process under the stream"
        started.update(children(proc.pid, b"SdkHarness") + children(proc.pid, b"--job_port"))
        os.kill(found[len(found) // 2], signal.SIGKILL)
        before = batches_applied(settings, "beam")
        wait_until(lambda: batches_applied(settings, "beam") > before, 180, what="a batch after the kill")
        started.update(children(proc.pid, b"SdkHarness") + children(proc.pid, b"--job_port"))
        assert running.wait(timeout=300) == 0, running.stderr.read()
    finally:
        code, err = stop(proc)
    assert code == 0, err[-3000:]
    wait_until(lambda: not [p for p in started if alive(p)], 60, what="the pipeline's processes to end")
    final = run_cli(["stream", "--engine", "beam", "--until-idle", "--json"], own_warehouse, timeout=900)
    assert final.code == 0, final.output[-3000:]
    assert_exact(own_warehouse)
