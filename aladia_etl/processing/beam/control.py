"""What a step of the Beam pipeline knows about its stream, wherever it runs (a worker process, another machine):
only its pipeline's plain-data `RunSpec` and the warehouse's control row (`warehouse.control`), read at most once a
second. Nothing is shared with the launching process's memory.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aladia_etl.processing.resilience import Outage

T = TypeVar("T")
log = logging.getLogger("aladia.beam")

# {"conninfo", "engine", "stream", "run_id", "max_outage_s", "log_file"}: what every step gets, as plain data
RunSpec = dict[str, Any]
_LOGGING: list[str] = []  # the log file this worker process writes to, once set
_SHARED: dict[tuple[str, str], Outage] = {}  # (run id, part) → the outage every instance of a step shares
_SHARED_LOCK = threading.Lock()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_logging(spec: RunSpec) -> None:
    """A worker process logs (and shows Python's warnings) in the stream's worker log file, never on the stderr it
    inherited from the launching process: a pipe nobody may read while the stream runs would, once full, block
    every step that logs."""
    path = spec.get("log_file")
    if _LOGGING or not path:
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    _LOGGING.append(path)


class RunControl:
    def __init__(self, spec: RunSpec) -> None:
        worker_logging(spec)
        self.spec = spec
        self.run_id = spec["run_id"]
        self._read_at = float("-inf")
        self._over = False
        self._stop = False
        self._parent = os.getppid()  # the launching process (its worker pool starts this one)

    def _read(self) -> None:
        import psycopg

        from aladia_etl.warehouse import control
        from aladia_etl.warehouse.staging import forget_connection, worker_connection

        if time.monotonic() - self._read_at < control.READ_EVERY_S:
            return
        try:
            found = control.read(worker_connection(self.spec["conninfo"]), self.spec["engine"], self.spec["stream"])
        except (psycopg.errors.InvalidCatalogName, psycopg.errors.UndefinedTable):  # the warehouse dropped: over
            forget_connection(self.spec["conninfo"])
            self._over = self._stop = True
            return
        except Exception:  # noqa: BLE001 - the warehouse away: what was read last holds; its outage is reported
            forget_connection(self.spec["conninfo"])
            return
        finally:
            self._read_at = time.monotonic()
        # the launching process gone (this process was handed to another parent): an orphan pipeline ends
        orphan = os.getppid() != self._parent
        self._over = self._over or found.run_id != self.run_id or found.failure is not None or orphan
        self._stop = self._over or found.stop_requested

    def over(self) -> bool:
        """This run failed, or another run replaced it: do nothing more."""
        self._read()
        return self._over

    def stopping(self) -> bool:
        """The readers finish their ranges (a stop request, or the run is over)."""
        self._read()
        return self._stop

    def _write(self, write: Callable[[Any], None]) -> bool:
        """Whether it was written."""
        from aladia_etl.warehouse.staging import forget_connection, worker_connection

        try:
            write(worker_connection(self.spec["conninfo"]))
        except Exception:
            forget_connection(self.spec["conninfo"])
            log.warning("could not write the Beam stream's control row", exc_info=True)
            return False
        return True

    def fail(self, exc: BaseException) -> None:
        """Record the run's failure for the launching process to raise; the run is over. When it cannot be recorded
        (the warehouse away), raise it: the bundle fails, so does the job, and the stream relaunches it from the
        warehouse's offsets — never a step that drops what it holds and goes on."""
        from aladia_etl.warehouse import control

        spec = self.spec
        if not self._write(lambda conn: control.record_failure(conn, spec["engine"], spec["stream"], self.run_id, exc)):
            raise exc
        self._over = self._stop = True

    def outage(self, what: str, part: str, shared: bool = False) -> Outage:
        """The outage of `part`, reported in the control row. `shared`: one per run and part in this process, for a
        step whose failed call returns instead of retrying (the reader defers its partition): the residual may run on
        another instance of the step, whose success must end the outage the first one reported."""
        if shared:
            with _SHARED_LOCK:
                found = _SHARED.get((self.run_id, part))
                if found is None:
                    found = _SHARED[(self.run_id, part)] = self.outage(what, part)
                return found
        from aladia_etl.warehouse import control

        spec = self.spec

        def report(status: str | None) -> None:
            self._write(
                lambda conn: control.record_retry(conn, spec["engine"], spec["stream"], self.run_id, part, status)
            )

        return Outage(what, float(spec["max_outage_s"]), report)

    def retry(self, step: Callable[[], T], outage: Outage) -> T | None:
        """Run `step` until it succeeds; a service's fault is retried with backoff while the run goes on. None when
        the run is over or the fault is fatal (then recorded as the run's failure). Staging found incomplete
        (StagingLost: nothing stages it again in this run) is raised: the job fails and the stream relaunches it,
        reading again from the warehouse's offsets."""
        from aladia_etl.warehouse.loader import StagingLost
        from aladia_etl.warehouse.staging import forget_connection

        while not self.over():
            try:
                result = step()
            except StagingLost:
                raise
            except BaseException as exc:  # noqa: BLE001 - classified by the outage: only a service's fault waits
                forget_connection(self.spec["conninfo"])
                try:
                    wait = outage.failed(exc)
                except BaseException as fatal:  # noqa: BLE001 - recorded: the launching process raises it
                    self.fail(fatal)
                    return None
                time.sleep(wait)
                continue
            outage.recovered()
            return result
        return None
