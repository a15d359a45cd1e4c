"""The Beam engine's runners beyond the default (one unbounded pipeline on Prism, covered by the engine-parametrised
tests): the same pipeline submitted to a Prism job server started on its own (a real portable job server), and the
offline micro-batches on Beam's FnApiRunner (`--runner fnapi`)."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.e2e.helpers import assert_exact, simulate, stream


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
