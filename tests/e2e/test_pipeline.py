"""The whole pipeline on real components: PostgreSQL → Debezium/Connect → Kafka → engine → warehouse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from aladia_etl.bus.topics import cdc_topic
from tests.e2e.helpers import (
    assert_exact,
    batches_applied,
    simulate,
    snapshot,
    stream,
    wait_until,
    warehouse,
)
from tests.helpers import REPO, env_for, run_cli


def test_stream_until_idle_makes_the_warehouse_equal_the_source(pipeline, stack_env, engine):
    stats = simulate(stack_env, 6000, "--seed", "101")
    assert stats["changes"] == 6000
    for table in ("customers", "products", "orders", "order_items"):
        assert stats["by_table"][table].get("c") and stats["by_table"][table].get("u"), stats["by_table"]
    for table in ("customers", "orders", "order_items"):
        assert stats["by_table"][table].get("d"), stats["by_table"]
    result = stream(stack_env, engine, "--until-idle")
    assert result["stopped_reason"] == "idle" and result["lag"] == 0
    assert result["records"] >= 6000
    topics = json.loads(run_cli(["topics", "--groups", "--json"], stack_env).stdout)
    lags = {g["topic"]: g["lag"] for g in topics["groups"] if g["group"] == f"aladia-{engine}"}
    assert lags and set(lags.values()) == {0}, topics["groups"]  # applied offsets committed to the group
    report = assert_exact(stack_env)
    assert {t["table"]: t["source_rows"] > 0 for t in report["tables"]} == dict.fromkeys(
        ("customers", "products", "orders", "order_items"), True
    )
    assert report["daily_summary"]["days"] > 0


def test_replay_from_the_beginning_changes_nothing(pipeline, stack_env, engine):
    from aladia_etl.bus.offsets import read_offsets
    from aladia_etl.bus.topics import cdc_topics

    stream(stack_env, engine, "--until-idle")
    before = snapshot(pipeline)
    # what the topics hold now (not a count an earlier test left: this test also runs alone)
    held = sum(o.end - o.begin for o in read_offsets(pipeline, cdc_topics(pipeline)))
    result = stream(stack_env, engine, "--until-idle", "--from-beginning")
    assert held > 0 and result["records"] >= held  # everything the topics hold was read again ...
    assert snapshot(pipeline) == before  # ... and not one row, LSN or load time changed
    assert_exact(stack_env)


def test_poison_records_of_every_kind_go_to_the_dlq_and_the_rest_stays_exact(pipeline, stack_env, engine):
    """1,032 hostile records of 43 kinds, spread over the four CDC topics between real changes: the stream exits 0,
    each is in the dead-letter table exactly once with its reason and in the dead-letter topic at least once."""
    from tests.factories import POISON, POISON_REASONS
    from tests.kafka_utils import produce, read_all

    bootstrap = pipeline.kafka.bootstrap_servers
    topics = [cdc_topic(pipeline, t) for t in ("customers", "products", "orders", "order_items")]
    kinds = list(POISON)
    assert len(kinds) >= 15
    sent: dict[tuple[str, int], tuple[bytes, str]] = {}
    simulate(stack_env, 200, "--seed", "201")
    per_topic: dict[str, list[str]] = {topic: [] for topic in topics}
    for i in range(24 * len(kinds)):
        per_topic[topics[i % len(topics)]].append(kinds[i % len(kinds)])
    for topic, sent_kinds in per_topic.items():
        metas = produce(bootstrap, topic, [(b'{"id":1}', POISON[kind]) for kind in sent_kinds])
        for meta, kind in zip(metas, sent_kinds, strict=True):
            sent[(meta.topic, meta.offset)] = (POISON[kind], POISON_REASONS[kind])
    assert len(sent) >= 1000
    simulate(stack_env, 300, "--seed", "202")

    result = stream(stack_env, engine, "--until-idle")
    assert result["stopped_reason"] == "idle" and result["lag"] == 0
    with warehouse(pipeline) as conn:
        rows = conn.execute(
            "SELECT kafka_topic, kafka_offset, reason, raw_value FROM dead_letters WHERE kafka_topic = ANY(%s)",
            (topics,),
        ).fetchall()
    found = {(topic, offset): (reason, bytes(raw)) for topic, offset, reason, raw in rows}
    assert len(rows) == len(found)  # exactly once
    assert set(sent) <= set(found)
    for key, (value, reason) in sent.items():
        assert found[key][1] == value
        assert reason in found[key][0], (key, found[key][0], reason)

    in_topic: dict[tuple[str, int], tuple[bytes, str]] = {}
    for record in read_all(bootstrap, "aladia.dlq"):
        headers = dict(record.headers)
        key = (headers["aladia.topic"].decode(), int(headers["aladia.offset"]))
        assert headers["aladia.partition"] == b"0"
        in_topic[key] = (record.value, headers["aladia.reason"].decode())
    assert set(sent) <= set(in_topic)
    for key, (value, reason) in sent.items():
        assert in_topic[key][0] == value and reason in in_topic[key][1]
    assert_exact(stack_env)


def test_kill_9_mid_run_then_restart_is_exact(pipeline, stack_env, engine):
    simulate(stack_env, 20000, "--seed", "303")
    applied_before = batches_applied(pipeline, engine)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aladia_etl",
            "stream",
            "--engine",
            engine,
            "--max-records-per-batch",
            "1500",
            "--trigger-interval",
            "200ms",
            "--json",
        ],
        env=env_for(stack_env),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: batches_applied(pipeline, engine) >= applied_before + 2,
            timeout=300,
            what="two batches applied before the kill",
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the stream process and everything it started (JVM, workers)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert_not_running(proc.pid)
    result = stream(stack_env, engine, "--until-idle")
    assert result["lag"] == 0
    assert_exact(stack_env)


def _group_members(pgid: int) -> list[str]:
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    alive.append(entry)
            except ProcessLookupError:
                continue
    return alive


def assert_not_running(pgid: int) -> None:
    """SIGKILL is delivered at once, but the kernel needs a moment to tear down a JVM's threads."""
    wait_until(lambda: not _group_members(pgid), timeout=15, interval=0.2, what=f"process group {pgid} to exit")


def test_column_added_while_streaming_is_ignored_and_sigterm_stops_gracefully(pipeline, stack_env, engine):
    import psycopg

    column = f"loyalty_tier_{engine}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aladia_etl",
            "stream",
            "--engine",
            engine,
            "--duration",
            "600",
            "--trigger-interval",
            "500ms",
            "--json",
        ],
        env=env_for(stack_env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        simulate(stack_env, 500, "--seed", "404")
        with psycopg.connect(**pipeline.postgres.conninfo()) as conn:
            conn.execute(f"ALTER TABLE customers ADD COLUMN IF NOT EXISTS {column} TEXT DEFAULT 'bronze'")
            conn.commit()
            conn.execute(
                f"UPDATE customers SET {column} = 'gold', country = 'NL' WHERE id IN "
                "(SELECT id FROM customers ORDER BY id LIMIT 20)"
            )
            conn.execute(
                f"INSERT INTO customers (name, email, {column}) VALUES ('New Column', "
                f"'new.column.{engine}@example.com', 'silver')"
            )
            conn.commit()
        simulate(stack_env, 500, "--seed", "405")

        def caught_up():
            from aladia_etl.warehouse.verify import verify

            return verify(pipeline).ok

        wait_until(caught_up, timeout=180, interval=1, what="the running stream to catch up")
        assert proc.poll() is None, proc.stderr.read()  # the stream kept running through the schema change
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    final = json.loads(out)
    assert final["stopped_reason"] == "signal"
    if engine == "beam":  # one long-running pipeline for the stream's whole life, reported once
        assert final["pipeline"]["runner"] == "PrismRunner" and final["pipeline"]["started_at"]
    with warehouse(pipeline) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'dim_customer'"
            )
        }
    assert column not in columns  # documented: new source columns are ignored
    assert_exact(stack_env)


def test_switching_engines_on_the_same_warehouse_stays_exact(pipeline, stack_env):
    for seed, engine in ((601, "spark"), (602, "beam"), (603, "spark")):
        simulate(stack_env, 1500, "--seed", str(seed))
        result = stream(stack_env, engine, "--until-idle")
        assert result["lag"] == 0
        assert_exact(stack_env)


def test_ctrl_c_in_a_terminal_stops_the_stream_gracefully(pipeline, stack_env, engine):
    """Ctrl-C reaches the terminal's whole foreground process group: the stream and the processes its engine started
    (Spark's JVM; Beam's Prism and SDK workers). PySpark and Beam install SIGINT handlers of their own that cancelled
    the batch (Spark: exit 130, no summary) or stopped Prism before the drain (Beam: tracebacks, a relaunch). The
    stream must stop as on SIGTERM: the running work drained, exit 0, its summary, no process of its own left."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "stream", "--engine", engine, "--duration", "600", "--json"],
        env=env_for(stack_env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job has
        # and a terminal's SIGINT disposition: started in the background by a non-interactive shell (CI runners),
        # this process may have inherited SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        before = batches_applied(pipeline, engine)
        simulate(stack_env, 300, "--seed", "777")
        wait_until(
            lambda: proc.poll() is not None or batches_applied(pipeline, engine) > before,
            timeout=300,
            what="the stream to apply a batch",
        )
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        group = _group_members(proc.pid)
        assert len(group) > 1, group  # the engine's own processes are in the group that Ctrl-C reaches
        started = _children(proc.pid)  # Spark's JVM; Beam's Prism (a session of its own) and SDK workers
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert json.loads(out)["stopped_reason"] == "signal"
    assert "Traceback" not in err and "UNREACHABLE" not in err, err[-3000:]

    def left() -> list[str]:
        alive = _processes()
        return [cmd for pid, cmd in started.items() if pid in alive and alive[pid][2] == cmd]

    wait_until(lambda: not left(), timeout=60, what=lambda: f"every process the stream started to end: {left()}")
    stream(stack_env, engine, "--until-idle")
    assert_exact(stack_env)


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid → (parent, process group, cmdline) of every live process."""
    from pathlib import Path

    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if fields[0] != "Z":
                found[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return found


def _children(pid: int) -> dict[int, str]:
    return {child: cmd for child, (parent, _, cmd) in _processes().items() if parent == pid}
