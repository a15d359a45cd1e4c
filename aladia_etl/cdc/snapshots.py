"""Re-snapshot of captured tables while the stream runs (`aladia cdc snapshot`): Debezium's incremental snapshot.

A request is a row in the source's signalling table (`public.aladia_signal`, created by `init`, named in the
connector's configuration). Debezium then reads the tables in chunks; each chunk is read between two watermarks it
writes to the same table, and a row changed while its chunk was read is dropped from the chunk (its change event
carries the newer state). Snapshot rows carry the closing watermark's position (`processing.events`), so the
stream's position guard keeps them from overwriting a newer change, and a row deleted before the snapshot is not
read, so it is not brought back. Debezium reports the progress on a notification topic; `progress` reads it.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg import sql

from aladia_etl.cdc.connector import include_list, notification_topic
from aladia_etl.core.errors import AladiaError, ComponentFailed, ConfigError, InProgress, ServiceUnavailable, UsageError
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar
from aladia_etl.source import schema

SIGNAL = "execute-snapshot"
KIND = "Incremental Snapshot"  # the notifications' aggregate_type
FINISHED = ("completed", "aborted")
# A table scan that ended without reading the table: the snapshot did not do what was asked.
SCAN_OK = ("SUCCEEDED", "EMPTY")


def qualified(table: str) -> str:
    return table if "." in table else f"public.{table}"


def resolve(tables: tuple[str, ...], captured: tuple[str, ...]) -> tuple[str, ...]:
    """The captured tables named (`products` or `public.products`), as `schema.table`; an unknown one is an error."""
    known = {qualified(t): qualified(t) for t in captured}
    chosen = []
    for table in tables:
        name = qualified(table.strip())
        if name not in known:
            raise UsageError(
                f"{table!r} is not a captured table", f"choose from: {', '.join(sorted(known))} (see 'aladia status')"
            )
        chosen.append(name)
    if not chosen:
        raise UsageError("no table named", "e.g. aladia cdc snapshot products")
    return tuple(dict.fromkeys(chosen))


def signal_data(tables: tuple[str, ...], where: str | None) -> dict[str, Any]:
    """The signal's `data`: Debezium matches `data-collections` (and a condition's `data-collection`) as regular
    expressions, so each name is escaped to mean itself."""
    data: dict[str, Any] = {"data-collections": [include_list((t,)) for t in tables], "type": "incremental"}
    if where:  # in parentheses: Debezium appends it to its chunk's bounds, `(bounds) AND (where)`, as checked here
        data["additional-conditions"] = [
            {"data-collection": include_list((t,)), "filter": f"({where})"} for t in tables
        ]
    return data


def _check_connector(settings: Settings) -> None:
    from aladia_etl.cdc.service import client_for

    name = settings.cdc.connector_name
    config = client_for(settings).config(name)
    if config is None:
        raise ConfigError(f"connector {name} is not registered", "run 'aladia cdc register' first")
    if config.get("signal.data.collection") != f"public.{schema.SIGNAL_TABLE}":
        raise ConfigError(
            f"connector {name} was registered without aladia's signalling table",
            "run 'aladia init' and then 'aladia cdc register' again (it updates the connector in place)",
        )


def _has_signal_table(conn) -> bool:
    return scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"public.{schema.SIGNAL_TABLE}",))


def _check_tables(conn, tables: tuple[str, ...], where: str | None) -> None:
    import psycopg

    if not _has_signal_table(conn):
        raise ConfigError(f"the source has no public.{schema.SIGNAL_TABLE} table", "run 'aladia init' first")
    for table in tables:
        ident = sql.Identifier(*table.split(".", 1))
        keyed = scalar(
            conn,
            "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
            (sql.SQL("{}").format(ident).as_string(conn),),
        )
        if not keyed:
            raise UsageError(
                f"{table} has no primary key: Debezium reads a table in chunks ordered by it",
                f"add a primary key to {table}, or re-snapshot the pipeline from the start",
            )
        if where is None:
            continue
        # the condition runs here first, read-only, as one prepared statement (no second statement can ride on it)
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute("SET LOCAL statement_timeout = '10s'")
                conn.execute(sql.SQL("SELECT 1 FROM {} WHERE ({}) LIMIT 1").format(ident, sql.SQL(where)), prepare=True)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(
                f"--where on {table}: {first}", f'write a condition on {table}\'s columns, e.g. --where "id > 100"'
            ) from None


def new_id(now_ms: int | None = None) -> str:
    """A request's id: its time first (ids sort by it; Debezium's signal table has exactly three columns)."""
    return f"{time.time_ns() // 1_000_000 if now_ms is None else now_ms:013d}-{uuid.uuid4().hex[:16]}"


def requested_ms(ident: str) -> int:
    """When a request was made, from its id (0 for an id aladia did not make)."""
    stamp = ident.split("-", 1)[0]
    return int(stamp) if len(stamp) == 13 and stamp.isascii() and stamp.isdigit() else 0


def request(settings: Settings, tables: tuple[str, ...], where: str | None = None, merge: bool = False) -> str:
    """Ask Debezium to re-read `tables` (`schema.table`) while it streams; returns the request's id. Debezium adds
    a request that comes while a snapshot runs to the running one, under the new request's id: refused unless
    `merge` (a stream re-reading a table after a schema change does not wait for it)."""
    from aladia_etl.source.bootstrap import connect

    if where is not None and not where.strip():
        raise UsageError("--where is empty", "drop --where to read every row, or give a condition")
    _check_connector(settings)
    if not merge:
        running = [p for p in progress(settings) if p.state in ("running", "paused")]
        if running:
            raise InProgress(
                f"snapshot {running[-1].id} of {', '.join(running[-1].tables)} is still {running[-1].state}",
                "wait until it completes ('aladia status'), then ask again",
            )
    ident = new_id()
    with connect(settings) as conn:
        _check_tables(conn, tables, where)
        conn.execute(
            sql.SQL("INSERT INTO public.{} (id, type, data) VALUES (%s, %s, %s)").format(
                sql.Identifier(schema.SIGNAL_TABLE)
            ),
            (ident, SIGNAL, json.dumps(signal_data(tables, where))),
        )
        conn.commit()
    return ident


@dataclass
class SnapshotProgress:
    id: str
    tables: list[str] = field(default_factory=list)
    state: str = "requested"  # requested | running | paused | completed | aborted
    current: str | None = None  # the table being read
    last_key: str | None = None  # the last key read of it, and its largest key when the scan began
    maximum_key: str | None = None
    rows: dict[str, int] = field(default_factory=dict)  # finished tables: rows read
    scans: dict[str, str] = field(default_factory=dict)  # finished tables: SUCCEEDED, EMPTY, NO_PRIMARY_KEY, …
    started_ms: int | None = None
    updated_ms: int | None = None

    @property
    def failed_scans(self) -> dict[str, str]:
        return {t: s for t, s in self.scans.items() if s not in SCAN_OK}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _split(names: Any) -> list[str]:
    return [n for n in str(names or "").split(",") if n]


def fold(notifications: list[dict[str, Any]]) -> dict[str, SnapshotProgress]:
    """Each incremental snapshot's progress from Debezium's notifications, oldest first."""
    out: dict[str, SnapshotProgress] = {}
    for note in notifications:
        if not isinstance(note, dict) or note.get("aggregate_type") != KIND or not isinstance(note.get("id"), str):
            continue
        raw = note.get("additional_data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        item = out.setdefault(note["id"], SnapshotProgress(id=note["id"]))
        kind, stamp = note.get("type"), note.get("timestamp")
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            item.updated_ms = stamp
            item.started_ms = item.started_ms or stamp
        for table in _split(data.get("data_collections")):  # a later notification may name only the tables left
            if table not in item.tables:
                item.tables.append(table)
        if kind in ("STARTED", "RESUMED", "IN_PROGRESS", "PAUSED"):
            item.state = "paused" if kind == "PAUSED" else "running"
            if kind == "IN_PROGRESS":
                item.current = data.get("current_collection_in_progress")
                item.last_key, item.maximum_key = data.get("last_processed_key"), data.get("maximum_key")
        elif kind == "TABLE_SCAN_COMPLETED":
            table = str(data.get("scanned_collection", "?"))
            item.scans[table] = str(data.get("status", "?"))
            rows = str(data.get("total_rows_scanned", ""))
            item.rows[table] = int(rows) if rows.isascii() and rows.isdigit() and len(rows) <= 19 else 0
            item.current = item.last_key = item.maximum_key = None
        elif kind in ("COMPLETED", "ABORTED"):
            item.state = kind.lower()
            item.current = item.last_key = item.maximum_key = None
    return out


class Notifications:
    """Debezium's notifications, read as they come: one consumer for the reader's life. `tail`: per partition, at
    most that many of the last notifications (`aladia status`: the recent snapshots only)."""

    def __init__(self, settings: Settings, tail: int | None = None) -> None:
        self.settings, self.tail = settings, tail
        self.topic = notification_topic(settings.cdc.topic_prefix)
        self.notes: list[dict[str, Any]] = []
        self._consumer: Any = None
        self._partitions: list[Any] = []

    def _open(self) -> bool:
        from kafka import TopicPartition

        from aladia_etl.stack.connections import consumer

        if self._consumer is None:
            self._consumer = consumer(self.settings, enable_auto_commit=False, group_id=None)
        if not self._partitions:
            partitions = self._consumer.partitions_for_topic(self.topic)
            if not partitions:
                return False  # no snapshot yet (Debezium creates the topic with its first notification)
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            self._consumer.assign(self._partitions)
            begins = self._consumer.beginning_offsets(self._partitions)
            ends = self._consumer.end_offsets(self._partitions)
            for tp in self._partitions:
                start = begins[tp] if self.tail is None else max(begins[tp], ends[tp] - self.tail)
                self._consumer.seek(tp, start)
        return True

    def read(self, timeout_s: float = 30) -> list[dict[str, Any]]:
        """Every notification so far (those published until now read, in each partition's order)."""
        if not self._open():
            return self.notes
        c = self._consumer
        ends = c.end_offsets(self._partitions)
        deadline = time.monotonic() + timeout_s
        while any(c.position(tp) < ends[tp] for tp in self._partitions):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"Kafka did not serve {self.topic} within {timeout_s:.0f} s", "see 'aladia status'"
                )
            for records in c.poll(timeout_ms=200, max_records=2000).values():
                for record in records:
                    try:
                        value = json.loads(record.value) if record.value else None
                    except ValueError:
                        continue  # not Debezium's: ignored
                    if isinstance(value, dict):
                        self.notes.append(value)
        return self.notes

    def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()
            self._consumer = None


def _ordered(items: dict[str, SnapshotProgress]) -> list[SnapshotProgress]:
    return sorted(items.values(), key=lambda p: (p.started_ms or requested_ms(p.id), p.id))


def progress(settings: Settings, requested: list[str] | None = None, tail: int | None = None) -> list[SnapshotProgress]:
    """The incremental snapshots Debezium reported, oldest first, and the `requested` ids it has not started."""
    reader = Notifications(settings, tail)
    try:
        known = fold(reader.read())
    finally:
        reader.close()
    for ident in requested or ():
        known.setdefault(ident, SnapshotProgress(id=ident))
    return _ordered(known)


def wait(settings: Settings, ident: str, timeout: float, reporter: Reporter = SILENT) -> SnapshotProgress:
    """Until Debezium has read every table of the request (the stream applies the rows as it goes)."""
    from rich.markup import escape

    deadline = time.monotonic() + timeout
    reader = Notifications(settings)
    try:
        with reporter.task(f"Debezium reading the tables of snapshot {ident[:13]}") as task:
            while True:
                item = fold(reader.read()).get(ident, SnapshotProgress(id=ident))
                if item.state in FINISHED:
                    break
                if time.monotonic() > deadline:
                    raise AladiaError(
                        f"snapshot {ident} still {item.state} after {timeout:.0f} s",
                        "it goes on in Debezium; follow it with 'aladia status', or wait longer with --timeout",
                    )
                if item.current:  # names and keys are the source's: never markup
                    task.update(description=escape(f"{item.current}: key {item.last_key} of {item.maximum_key}"))
                time.sleep(0.5)
    finally:
        reader.close()
    if item.state == "aborted" or item.failed_scans:
        scans = ", ".join(f"{t} {s}" for t, s in item.failed_scans.items()) or "aborted"
        raise ComponentFailed(
            f"snapshot {ident} did not read every table ({scans})",
            "see 'aladia cdc status' and the Connect log (docs/TROUBLESHOOTING.md)",
        )
    return item


def requested_ids(settings: Settings) -> list[str]:
    """The snapshot requests in the signalling table, oldest first (none when it does not exist yet)."""
    from aladia_etl.source.bootstrap import connect

    with connect(settings) as conn:
        if not _has_signal_table(conn):
            return []
        rows = conn.execute(
            sql.SQL("SELECT id FROM public.{} WHERE type = %s").format(sql.Identifier(schema.SIGNAL_TABLE)), (SIGNAL,)
        ).fetchall()
    return [r[0] for r in rows]


PENDING_S = 3600  # a request Debezium has not started after an hour is not shown as pending any more


def recent(settings: Settings, limit: int = 5, tail: int = 2000) -> list[SnapshotProgress]:
    """`aladia status`: the last `limit` snapshots, requests of the last hour Debezium has not started included."""
    now_ms = time.time_ns() // 1_000_000
    pending = [i for i in requested_ids(settings) if now_ms - requested_ms(i) < PENDING_S * 1000]
    return progress(settings, pending, tail)[-limit:]
