"""The Spark engine against a real standalone cluster: a master and a worker started from pyspark's own jars."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from aladia_etl.stack.process import port_is_open
from tests.e2e.helpers import assert_exact, simulate, stream

MASTER_PORT = 27077


def _spark_env(work: Path) -> dict[str, str]:
    import pyspark

    home = Path(pyspark.__file__).parent
    return {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(work / "worker"),
        "SPARK_LOG_DIR": str(work / "logs"),
        "SPARK_NO_DAEMONIZE": "1",
    }


@pytest.fixture
def standalone_cluster():
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    work = Path(tempfile.mkdtemp(prefix="aladia-spark-cluster-"))
    env = _spark_env(work)
    master_log = open(work / "master.log", "wb")  # noqa: SIM115 - kept open for the process's lifetime
    worker_log = open(work / "worker.log", "wb")  # noqa: SIM115
    master = subprocess.Popen(
        [
            str(spark_class),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(MASTER_PORT),
            "--webui-port",
            "28480",
        ],
        env=env,
        stdout=master_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not port_is_open("127.0.0.1", MASTER_PORT):
            assert master.poll() is None and time.monotonic() < deadline, (work / "master.log").read_text()
            time.sleep(0.2)
        url = f"spark://127.0.0.1:{MASTER_PORT}"
        worker = subprocess.Popen(
            [
                str(spark_class),
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                "2",
                "--memory",
                "2g",
                "--webui-port",
                "28481",
            ],
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while b"Registering worker" not in (work / "master.log").read_bytes():
            assert worker.poll() is None and time.monotonic() < deadline + 60, (work / "worker.log").read_text()
            time.sleep(0.2)
        yield url, work
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        master_log.close()
        worker_log.close()
        shutil.rmtree(work, ignore_errors=True)


def test_spark_engine_on_a_standalone_cluster(pipeline, stack_env, standalone_cluster):
    url, work = standalone_cluster
    simulate(stack_env, 5000, "--seed", "505")
    result = stream(stack_env, "spark", "--until-idle", "--master", url, "--name", "cluster")
    assert result["records"] >= 5000
    assert result["lag"] == 0
    # The work really ran in the cluster's executors (the worker launched an executor for our application).
    executors = list((work / "worker").glob("app-*/*/stderr"))
    assert executors, "no executor was launched by the standalone worker"
    assert_exact(stack_env)
