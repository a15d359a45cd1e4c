"""A running stream's control row (`pipeline_streams`, held by the stream's `WriterLock`): how a launching process
and steps running in other processes (Beam's SDK workers) tell each other what they need to know, through the
warehouse and nothing else.

- `run_id`: the pipeline run the steps belong to. A relaunch writes a new one; steps of an older run stop.
- `stop_requested`: the launching process asks the readers to finish their ranges.
- `failure`: the first fatal error a step met (its type, reason, fix, exit code), raised by the launching process.
- `retrying`: per part ("source", "apply"), the status of an outage a step is riding out (None once recovered).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aladia_etl.core import errors
from aladia_etl.core.errors import AladiaError, ExitCode, SchemaDrift

if TYPE_CHECKING:
    from psycopg import Connection

READ_EVERY_S = 1.0  # how often a step or the launching process reads the control row, at most


@dataclass(frozen=True)
class Control:
    run_id: str | None
    stop_requested: bool
    failure: dict[str, Any] | None
    retrying: dict[str, str] = field(default_factory=dict)
    held: bool = True


def begin_run(conn: Connection, engine: str, stream: str) -> str:
    """A new run of the stream's pipeline: its id, no stop request, no failure. (The row exists: the stream holds
    its name.) Taken under the engine's offsets lock, so an apply of an older run still in its transaction ends
    first, and every apply that starts later finds its run replaced (`chunks.apply_ready`): what the warehouse's
    offsets say after this returns is final for the older run."""
    from aladia_etl.warehouse.loader import OFFSETS_LOCK

    run_id = uuid.uuid4().hex
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (OFFSETS_LOCK, engine))
        conn.execute(
            "UPDATE pipeline_streams SET run_id = %s, stop_requested = false, failure = NULL, retrying = NULL "
            "WHERE engine = %s AND stream = %s",
            (run_id, engine, stream),
        )
    return run_id


def request_stop(conn: Connection, engine: str, stream: str, run_id: str) -> None:
    conn.execute(
        "UPDATE pipeline_streams SET stop_requested = true WHERE engine = %s AND stream = %s AND run_id = %s",
        (engine, stream, run_id),
    )


def read(conn: Connection, engine: str, stream: str) -> Control:
    """The control row; `held` says whether a live session holds the stream's name (its launching process is
    alive and connected)."""
    from aladia_etl.warehouse.writers import RUNNING

    row = conn.execute(
        "SELECT s.run_id, s.stop_requested, s.failure, s.retrying, "
        f"EXISTS (SELECT 1 FROM ({RUNNING}) r WHERE r.engine = s.engine AND r.stream = s.stream) "
        "FROM pipeline_streams s WHERE s.engine = %s AND s.stream = %s",
        (engine, stream),
    ).fetchone()
    if row is None:  # the stream no longer holds its name: nobody may go on
        return Control(None, True, None, held=False)
    return Control(row[0], bool(row[1]), row[2], dict(row[3] or {}), held=bool(row[4]))


def record_failure(conn: Connection, engine: str, stream: str, run_id: str, exc: BaseException) -> None:
    """Keep the run's first failure (a later one is usually its consequence)."""
    conn.execute(
        "UPDATE pipeline_streams SET failure = %s::jsonb "
        "WHERE engine = %s AND stream = %s AND run_id = %s AND failure IS NULL",
        (json.dumps(describe_failure(exc)), engine, stream, run_id),
    )


def record_retry(conn: Connection, engine: str, stream: str, run_id: str, part: str, status: str | None) -> None:
    conn.execute(
        "UPDATE pipeline_streams SET retrying = CASE WHEN %(status)s::text IS NULL "
        "THEN coalesce(retrying, '{}'::jsonb) - %(part)s "
        "ELSE coalesce(retrying, '{}'::jsonb) || jsonb_build_object(%(part)s, %(status)s::text) END "
        "WHERE engine = %(engine)s AND stream = %(stream)s AND run_id = %(run)s",
        {"status": status, "part": part, "engine": engine, "stream": stream, "run": run_id},
    )


def describe_failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, AladiaError):
        found: dict[str, Any] = {
            "type": type(exc).__name__,
            "reason": exc.reason,
            "fix": exc.fix,
            "exit_code": int(exc.exit_code),
        }
        if isinstance(exc, SchemaDrift):
            found["drift"] = exc.drift
        return found
    first = str(exc).splitlines()[0] if str(exc) else ""
    return {
        "type": type(exc).__name__,
        "reason": f"the Beam pipeline failed: {type(exc).__name__}: {first}",
        "fix": "fix the cause and rerun; the warehouse's offsets are unchanged, so nothing is lost",
        "exit_code": int(ExitCode.ERROR),
    }


def failure_error(failure: dict[str, Any]) -> AladiaError:
    """The error a step recorded, as the launching process raises it (its own type when it is one of aladia's
    errors that take a reason and a fix)."""
    if failure.get("type") == "SchemaDrift" and failure.get("drift"):
        return SchemaDrift(failure["drift"])
    kind = getattr(errors, str(failure.get("type")), None)
    reason, fix = str(failure.get("reason")), str(failure.get("fix"))
    try:
        error = kind(reason, fix) if isinstance(kind, type) and issubclass(kind, AladiaError) else None
    except TypeError:  # an error type with another constructor
        error = None
    if error is None:
        error = AladiaError(reason, fix)
        error.exit_code = ExitCode(int(failure.get("exit_code") or ExitCode.ERROR))
    return error
