"""One classification decides a failure's fate everywhere:

- `RECORD`: the record's own fault (RecordError) → that record becomes a dead letter, the stream goes on;
- `SERVICE`: a service's fault (connection refused or reset, a timeout, a server shutting down or not accepting
  connections, a broker without a leader) → retried with capped exponential backoff, never a dead letter;
- `FATAL`: anything else (a configuration the server rejects, a bug) → the stream stops with one line.

Errors that crossed the JVM (Spark wraps Python and Kafka client failures in Java exceptions) are classified by
their text, since only their message survives the trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RECORD, SERVICE, FATAL = "record", "service", "fatal"

# SQLSTATEs of a server that is away, restarting, overloaded or refusing connections for a while.
_PG_TRANSIENT_CLASSES = ("08", "53", "57P")  # connection exception, insufficient resources, operator intervention
_PG_TRANSIENT_STATES = {"40001", "40P01", "55000", "55P03"}  # serialization, deadlock, not accepting, lock timeout

_JVM_TRANSIENT = re.compile(
    r"OperationalError|Connection refused|connection to server|could not connect|server closed the connection"
    r"|terminating connection|not currently accepting connections|the database system is (starting up|shutting down)"
    r"|KafkaConnectionError|KafkaTimeoutError|NodeNotReadyError|TimeoutException|Timed out waiting"
    r"|DisconnectException|NetworkException|LEADER_NOT_AVAILABLE|NotLeaderOrFollower|ServiceUnavailable"
    r"|Connection reset by peer|Broken pipe|ECONNREFUSED",
)


def classify(exc: BaseException, _depth: int = 0) -> str:
    from aladia_etl.core.errors import RecordError, ServiceUnavailable

    if isinstance(exc, RecordError):
        return RECORD
    if isinstance(exc, ServiceUnavailable):
        return SERVICE
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return SERVICE
    kind = _psycopg(exc) or _kafka(exc) or _requests(exc)
    if kind:
        return kind
    # Wrapped on the way: by the JVM (Spark), or by a worker process (Beam's multi-process runner).
    wrapped = type(exc).__name__ in ("Py4JJavaError", "PythonException", "StreamingQueryException", "Py4JNetworkError")
    if (wrapped or type(exc) is RuntimeError) and _JVM_TRANSIENT.search(str(exc)):
        return SERVICE
    if wrapped:
        return FATAL
    cause = exc.__cause__ or exc.__context__
    if cause is not None and _depth < 10:
        return SERVICE if classify(cause, _depth + 1) == SERVICE else FATAL
    return FATAL


def _psycopg(exc: BaseException) -> str | None:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if not isinstance(exc, psycopg.Error):
        return None
    state = getattr(exc, "sqlstate", None)
    if state is None:
        # No server answer at all (refused, reset, closed): the connection, not the request.
        return SERVICE if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) else FATAL
    if state in _PG_TRANSIENT_STATES or state.startswith(_PG_TRANSIENT_CLASSES):
        return SERVICE
    return FATAL


def _kafka(exc: BaseException) -> str | None:
    try:
        from kafka.errors import KafkaError
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(exc, KafkaError):
        return None
    return SERVICE if getattr(exc, "retriable", False) else FATAL


def _requests(exc: BaseException) -> str | None:
    try:
        import requests
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return SERVICE
    return None


def describe(exc: BaseException) -> str:
    """One line about a failure: its type and the first line of its message."""
    text = str(exc).strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


@dataclass
class Backoff:
    """Capped exponential backoff for one outage: 1 s, 2 s, 4 s … up to `cap`; the outage ends with `reset`."""

    first: float = 1.0
    cap: float = 30.0
    attempt: int = 0
    since: float | None = None

    def next_delay(self, now: float) -> float:
        if self.since is None:
            self.since = now
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        return delay

    def outage_s(self, now: float) -> float:
        return 0.0 if self.since is None else now - self.since

    def reset(self) -> None:
        self.attempt = 0
        self.since = None
