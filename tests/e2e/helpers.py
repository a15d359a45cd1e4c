"""End-to-end helpers: run the real `aladia stream` (real Spark / Beam) against the session stack, and look at
the warehouse it wrote."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psycopg

from tests.helpers import REPO, env_for, run_cli


def stream(env: dict, engine: str, *args: str, timeout: float = 900) -> dict:
    result = run_cli(["stream", "--engine", engine, "--json", *args], env, timeout=timeout)
    assert result.code == 0, result.output[-4000:]
    return json.loads(result.stdout)


def verify(env: dict) -> dict:
    result = run_cli(["verify", "--json"], env, timeout=300)
    report = json.loads(result.stdout)
    assert result.code == (0 if report["ok"] else 8), result.output
    return report


def assert_exact(env: dict) -> dict:
    report = verify(env)
    assert report["ok"], json.dumps(report, indent=1)
    return report


def simulate(env: dict, events: int, *extra: str) -> dict:
    """Run `aladia simulate`, then wait until Debezium has published every change it made (to the topics of the
    environment's connector)."""
    from aladia_etl.bus.offsets import total_records, wait_for_records
    from aladia_etl.bus.topics import cdc_topics
    from aladia_etl.core.settings import Settings

    settings = Settings(
        _env_file=None,
        data_dir=env["ALADIA_DATA_DIR"],  # a secured stack's client settings live there
        kafka={"bootstrap_servers": env["ALADIA_KAFKA__BOOTSTRAP_SERVERS"]},
        cdc={"topic_prefix": env.get("ALADIA_CDC__TOPIC_PREFIX", "orders_db")},
    )
    topics = cdc_topics(settings)
    before = total_records(settings, topics)
    result = run_cli(["simulate", "--events", str(events), "--json", *extra], env, timeout=600)
    assert result.code == 0, result.output
    stats = json.loads(result.stdout)
    deletes = sum(ops.get("d", 0) for ops in stats["by_table"].values())
    wait_for_records(settings, topics, before + stats["changes"] + deletes, timeout=180)
    return stats


def warehouse(settings):
    return psycopg.connect(**settings.postgres.conninfo(settings.postgres.warehouse_db), autocommit=True)


def snapshot(settings) -> dict[str, list[tuple]]:
    """Every warehouse row, lineage and load time included (the daily summary without its computed_at)."""
    with warehouse(settings) as conn:
        out = {}
        for table, key in (
            ("dim_customer", "customer_id"),
            ("dim_product", "product_id"),
            ("fact_order", "order_id"),
            ("fact_order_item", "order_item_id"),
        ):
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
        out["daily_sales_summary"] = conn.execute(
            "SELECT day, orders, revenue, avg_order_value, items_sold, pending, paid, shipped, delivered, cancelled, "
            "refunded FROM daily_sales_summary ORDER BY day"
        ).fetchall()
    return out


def batches_applied(settings, engine: str) -> int:
    with warehouse(settings) as conn:
        if conn.execute("SELECT to_regclass('pipeline_batches')").fetchone()[0] is None:
            return 0
        return conn.execute("SELECT count(*) FROM pipeline_batches WHERE engine = %s", (engine,)).fetchone()[0]


def wait_until(predicate, timeout: float, interval: float = 0.5, what="condition"):
    """Wait for `predicate` to hold; `what` (text, or a function giving it at the end) says what was awaited and
    what was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")


def assert_every_partition_applied(env: dict, settings, engine: str, partitions: int) -> None:
    """The warehouse's applied offsets reach the end of every partition of every CDC topic of the environment's
    connector (and the topics really have that many partitions, each of them holding records)."""
    from aladia_etl.bus.offsets import read_offsets
    from aladia_etl.bus.topics import cdc_topics

    topic_settings = settings.model_copy(
        update={"cdc": settings.cdc.model_copy(update={"topic_prefix": env["ALADIA_CDC__TOPIC_PREFIX"]})}
    )
    ends = {(o.topic, o.partition): o.end for o in read_offsets(topic_settings, cdc_topics(topic_settings))}
    assert len(ends) == partitions * len(cdc_topics(topic_settings)), sorted(ends)
    assert all(end > 0 for end in ends.values()), ends
    target = settings.postgres.model_copy(update={"warehouse_db": env["ALADIA_POSTGRES__WAREHOUSE_DB"]})
    with warehouse(settings.model_copy(update={"postgres": target})) as conn:
        applied = {
            (topic, partition): offset
            for topic, partition, offset in conn.execute(
                "SELECT topic, partition, next_offset FROM pipeline_offsets WHERE engine = %s", (engine,)
            )
        }
    assert applied == ends


# -- a stream as an operator runs it: a process of its own, stopped with SIGTERM ---------------------------------
def spawn_stream(env: dict, engine: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "stream", "--engine", engine, "--json", *args],
        env=env_for(env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def workload(env: dict, *args: str) -> subprocess.Popen:
    """`aladia simulate --rate 300` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "simulate", "--rate", "300", *args],
        env=env_for(env),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_running(proc: subprocess.Popen, env: dict, timeout: float = 300) -> None:
    from aladia_etl.core.settings import Settings
    from aladia_etl.processing.state import read_streams

    settings = Settings(_env_file=None, data_dir=env["ALADIA_DATA_DIR"])

    def running() -> bool:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        return any(s.get("pid") == proc.pid and s.get("state") == "running" for s in read_streams(settings))

    wait_until(running, timeout, 0.3, what="the stream to run")


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err
