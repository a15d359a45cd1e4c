"""The Beam engine's runners beyond the default (one unbounded pipeline on Prism, covered by the engine-parametrised
tests): the same pipeline submitted to a Prism job server started on its own (a real portable job server), and the
offline micro-batches on Beam's FnApiRunner (`--runner fnapi`)."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.e2e.helpers import assert_exact, simulate, stream, warehouse
from tests.helpers import run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_pipeline_on_a_separately_started_prism_job_server(pipeline, stack_env, tmp_path):
    from aladia_etl.stack.prism import ensure_prism
    from aladia_etl.stack.process import port_is_open

    port = free_port()
    log = open(tmp_path / "prism.log", "wb")  # noqa: SIM115 - open for the server's lifetime
    server = subprocess.Popen(
        [str(ensure_prism(pipeline)), "--job_port", str(port), "--serve_http=false"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_is_open("127.0.0.1", port):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "prism.log").read_text()
            time.sleep(0.2)
        simulate(stack_env, 800, "--seed", "901")
        result = stream(
            stack_env,
            "beam",
            "--until-idle",
            "--runner",
            "PortableRunner",
            "--pipeline-option",
            f"--job_endpoint=localhost:{port}",
        )
        assert result["pipeline"]["runner"] == "PortableRunner" and result["batches"] >= 1
        assert server.poll() is None  # the job server outlives the job
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert "job" in (tmp_path / "prism.log").read_text().lower()
    assert_exact(stack_env)


def test_offline_micro_batches_on_the_fnapi_runner(pipeline, stack_env):
    simulate(stack_env, 800, "--seed", "902")
    result = stream(stack_env, "beam", "--until-idle", "--runner", "fnapi")
    assert result["lag"] == 0 and result["pipeline"] is None
    assert_exact(stack_env)


def test_steps_run_in_worker_processes_and_every_offset_is_applied_once(pipeline, stack_env):
    """No step runs in the launching process: chunks are staged by two stager processes and applied by another one,
    and, from the warehouse's record, every Kafka offset read from the beginning is in exactly one applied batch."""
    from aladia_etl.bus.offsets import read_offsets
    from aladia_etl.bus.topics import cdc_topics

    simulate(stack_env, 3000, "--seed", "903")
    run_cli(["migrate"], stack_env)  # the warehouse's tables, when no stream ran before
    with warehouse(pipeline) as conn:
        first = conn.execute(
            "SELECT coalesce(max(batch_id) + 1, 0) FROM pipeline_batches "
            "WHERE engine = 'beam' AND stream_id = 'default'"
        )
        first_batch = first.fetchone()[0]
    result = stream(stack_env, "beam", "--until-idle", "--from-beginning")
    assert result["stopped_reason"] == "idle" and result["lag"] == 0
    kafka = {(o.topic, o.partition): (o.begin, o.end) for o in read_offsets(pipeline, cdc_topics(pipeline))}
    with warehouse(pipeline) as conn:
        batches = conn.execute(
            "SELECT batch_id, records, staged_by FROM pipeline_batches WHERE engine = 'beam' AND stream_id = 'default' "
            "AND batch_id >= %s "
            "ORDER BY batch_id",
            (first_batch,),
        ).fetchall()
        offsets = conn.execute("SELECT topic, partition, next_offset FROM pipeline_offsets WHERE engine = 'beam'")
        applied = {(t, p): o for t, p, o in offsets}
    assert [b[0] for b in batches] == list(range(first_batch, first_batch + len(batches)))  # one claim per id
    workers = {w for b in batches for w in b[2]}
    launcher = result["pipeline"]["launched_by"]
    assert len(workers) >= 2 and launcher not in workers, (workers, launcher)
    assert {w.rsplit(":", 1)[0] for w in workers} == {launcher.rsplit(":", 1)[0]}  # this host, other processes
    assert applied == {key: end for key, (_, end) in kafka.items()}
    # every record from each partition's log start to its end, once: nothing skipped, nothing applied twice
    assert sum(b[1] for b in batches) == sum(end - begin for begin, end in kafka.values()) == result["records"]
    assert_exact(stack_env)
