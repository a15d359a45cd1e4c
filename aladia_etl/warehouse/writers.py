"""Who writes to the warehouse now. A running stream holds its name — one (engine, stream name) per warehouse at a time
— through a PostgreSQL session advisory lock on a connection of its own, kept for the stream's life, and a row in
`pipeline_streams` saying which process holds it since when (a `dlq replay` registers the same way, under a name of
its own). A second stream of the same name gets one line naming the holder and exit code 5.

The lock ends with its session: a stream killed with -9 releases it at once, and its row stays behind as a dead
run's (no session holds its lock). Staging rows written before every running writer started belong to dead runs and
are cleared when a writer starts (`clear_dead_staging`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
from typing import TYPE_CHECKING

from aladia_etl.core.errors import AladiaError, ExitCode
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar

if TYPE_CHECKING:
    from psycopg import Connection

log = logging.getLogger("aladia.stream")

STAGING_WITH_TIME = (
    "stg_customers",
    "stg_products",
    "stg_orders",
    "stg_order_items",
    "stg_dead_letters",
    "stg_stats",
    "stg_beam_chunks",
)

# The writers whose lock some session holds (pg_locks shows a bigint advisory key as two 32-bit halves).
RUNNING = """
SELECT s.engine, s.stream, s.pid, s.host, s.started_at
  FROM pipeline_streams s
 WHERE EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid::bigint = ((s.lock_key >> 32) & 4294967295)
                  AND l.objid::bigint = (s.lock_key & 4294967295))
"""


class StreamBusy(AladiaError):
    exit_code = ExitCode.CONFLICT


def lock_key(engine: str, stream: str) -> int:
    """A 64-bit advisory lock key for (engine, stream name) (signed, as PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"aladia-stream:{engine}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def running(conn: Connection) -> list[tuple]:
    """(engine, stream, pid, host, started_at) of every writer whose lock is held now."""
    return conn.execute(RUNNING).fetchall()


def clear_dead_staging(conn: Connection) -> int:
    """Delete staging rows written before every running writer started (a killed run's leftovers). Returns how many."""
    deleted = 0
    with conn.transaction():
        oldest = scalar(conn, f"SELECT min(started_at) FROM ({RUNNING}) r")
        for table in STAGING_WITH_TIME:
            if oldest is None:
                deleted += conn.execute(f"DELETE FROM {table}").rowcount
            else:
                deleted += conn.execute(f"DELETE FROM {table} WHERE staged_at < %s", (oldest,)).rowcount
    return deleted


class WriterLock:
    """Holds (engine, stream) on the warehouse for as long as it is open. `check()` keeps it: after the warehouse
    was away (the session, and so the lock, ended), it takes the lock again — or raises StreamBusy when another
    writer took the name meanwhile."""

    def __init__(self, settings: Settings, engine: str, stream: str, what: str = "stream") -> None:
        self.settings = settings
        self.engine = engine
        self.stream = stream
        self.what = what
        self.key = lock_key(engine, stream)
        self.conn: Connection | None = None
        self.held = False
        self._checked_at = 0.0

    def acquire(self) -> WriterLock:
        from aladia_etl.warehouse import loader

        conn = loader.connect(self.settings)
        try:
            if not scalar(conn, "SELECT pg_try_advisory_lock(%s)", (self.key,)):
                raise self._busy(conn)
            conn.execute(
                "INSERT INTO pipeline_streams (engine, stream, lock_key, pid, host) VALUES (%s, %s, %s, %s, %s) "
                # the same process taking its name again (after an outage) keeps its start: its staging rows
                # (written since) must stay newer than its start
                "ON CONFLICT (engine, stream) DO UPDATE SET lock_key = EXCLUDED.lock_key, pid = EXCLUDED.pid, "
                "host = EXCLUDED.host, started_at = CASE WHEN pipeline_streams.pid = EXCLUDED.pid "
                "AND pipeline_streams.host = EXCLUDED.host THEN pipeline_streams.started_at ELSE clock_timestamp() END",
                (self.engine, self.stream, self.key, os.getpid(), socket.gethostname()),
            )
        except BaseException:
            conn.close()
            raise
        self.conn, self.held = conn, True
        return self

    def _busy(self, conn: Connection) -> StreamBusy:
        row = conn.execute(
            "SELECT pid, host, started_at FROM pipeline_streams WHERE engine = %s AND stream = %s",
            (self.engine, self.stream),
        ).fetchone()
        holder = f" (pid {row[0]} on {row[1]}, since {row[2]:%Y-%m-%d %H:%M:%S %Z})" if row else ""
        db = self.settings.postgres.warehouse_db
        if self.what == "stream":
            return StreamBusy(
                f"a {self.engine} stream named {self.stream!r} is already running on the warehouse {db}{holder}",
                "stop it first, or give this one another --name",
            )
        return StreamBusy(f"another {self.what} is running on the warehouse {db}{holder}", "wait for it to end")

    def check(self, every_s: float = 1.0) -> None:
        """Called from the stream loop: a no-op while the lock's session is alive (asked at most every `every_s`);
        after an outage, take it again (ServiceUnavailable while the warehouse is still away: the caller retries)."""
        now = time.monotonic()
        if self.conn is not None and not (self.conn.closed or self.conn.broken):
            if now - self._checked_at < every_s:
                return
            import psycopg

            try:
                self.conn.execute("SELECT 1")
                self._checked_at = now
                return
            except psycopg.Error:  # the session ended: so did the lock
                self._close()
        self.held = False
        self.acquire()
        log.info("took the stream's lock again after the warehouse came back", extra={"engine": self.engine})

    def _close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None

    def release(self) -> None:
        if self.conn is not None and self.held:
            with contextlib.suppress(Exception):
                self.conn.execute(
                    "DELETE FROM pipeline_streams WHERE engine = %s AND stream = %s AND pid = %s",
                    (self.engine, self.stream, os.getpid()),
                )
                self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self.held = False
        self._close()

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
