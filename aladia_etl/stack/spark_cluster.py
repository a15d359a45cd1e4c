"""A throw-away Spark standalone cluster (a master and N workers) run on the jars pyspark ships, for the cluster
test and the bench's worker figures. It stops only the processes it started (it holds their handles) and deletes only
the directory it created."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aladia_etl.core.errors import AladiaError, MissingDependency
from aladia_etl.stack.process import port_is_open


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spark_home() -> Path:
    """pyspark's installation (its jars and scripts), found without importing it."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("pyspark is not installed", "pip install -e . (it pins the supported version)")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass
class StandaloneCluster:
    """`with StandaloneCluster(workers=2, cores=1) as cluster: … --master cluster.url`"""

    workers: int = 1
    cores: int = 1  # per worker
    memory: str = "2g"  # per worker
    port: int = field(default_factory=free_port)
    timeout: float = 120.0
    work: Path | None = None
    _procs: list[subprocess.Popen] = field(default_factory=list)
    _logs: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        assert self.work is not None
        return {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_WORKER_DIR": str(self.work / "worker"),
            "SPARK_LOG_DIR": str(self.work / "logs"),
            "SPARK_NO_DAEMONIZE": "1",
        }

    def _start(self, name: str, main_class: str, *args: str) -> subprocess.Popen:
        assert self.work is not None
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - open for the process's lifetime
        self._logs.append(log)
        proc = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), main_class, *args],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        assert self.work is not None
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait(self, proc: subprocess.Popen, ready, what: str, log: str, deadline: float) -> None:
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = " | ".join(self.log(log).strip().splitlines()[-3:])
                raise AladiaError(f"the Spark standalone {what} did not start: {tail or 'no output'}", "see its log")
            time.sleep(0.2)

    def __enter__(self) -> StandaloneCluster:
        self.work = Path(tempfile.mkdtemp(prefix="aladia-spark-cluster-"))
        deadline = time.monotonic() + self.timeout
        try:
            master = self._start(
                "master",
                "org.apache.spark.deploy.master.Master",
                *("--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(free_port())),
            )
            self._wait(master, lambda: port_is_open("127.0.0.1", self.port), "master", "master", deadline)
            for index in range(self.workers):
                worker = self._start(
                    f"worker-{index}",
                    "org.apache.spark.deploy.worker.Worker",
                    self.url,
                    *("--host", "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory),
                    *("--webui-port", str(free_port()), "--work-dir", str(self.work / f"worker-{index}")),
                )
                self._wait(
                    worker,
                    lambda n=index + 1: self.log("master").count("Registering worker") >= n,
                    f"worker {index}",
                    f"worker-{index}",
                    deadline,
                )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def executor_logs(self) -> list[Path]:
        """The stderr of every executor the workers launched (one directory per application and executor)."""
        assert self.work is not None
        return sorted(self.work.glob("worker-*/app-*/*/stderr"))

    def __exit__(self, *exc) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:  # still our unreaped child: its pid, and its session's group, are ours
                os.killpg(proc.pid, signal.SIGTERM)  # the worker's executors too
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
