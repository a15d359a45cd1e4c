"""Turn a slice of Kafka records into staged warehouse rows: parse → validate/cleanse → dead-letter split →
COPY into the batch's staging tables. Both engines run this code where the data is (Spark tasks, Beam DoFns);
the driver then merges the batch in one transaction (`aladia_etl.warehouse.loader`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aladia_etl.processing.events import EventError, parse
from aladia_etl.processing.transform import COLUMNS, LINEAGE, transform

Record = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value


@dataclass
class DeadLetter:
    topic: str
    partition: int
    offset: int
    reason: str
    key: bytes | None
    value: bytes | None


@dataclass
class StageStats:
    records: int = 0
    tombstones: int = 0
    dead_letters: int = 0
    rows: Counter = field(default_factory=Counter)
    # (topic, partition) -> next offset to read (highest offset seen + 1)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    max_source_ts_ms: int = 0

    @property
    def row_count(self) -> int:
        return sum(self.rows.values())

    def merge(self, other: StageStats) -> StageStats:
        self.records += other.records
        self.tombstones += other.tombstones
        self.dead_letters += other.dead_letters
        self.rows.update(other.rows)
        for tp, nxt in other.offsets.items():
            self.offsets[tp] = max(nxt, self.offsets.get(tp, 0))
        self.max_source_ts_ms = max(self.max_source_ts_ms, other.max_source_ts_ms)
        return self

    def to_json(self) -> str:
        return json.dumps(
            {
                "records": self.records,
                "tombstones": self.tombstones,
                "dead_letters": self.dead_letters,
                "rows": dict(self.rows),
                "offsets": [[t, p, o] for (t, p), o in self.offsets.items()],
                "max_source_ts_ms": self.max_source_ts_ms,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> StageStats:
        data = json.loads(text)
        return cls(
            data["records"],
            data["tombstones"],
            data["dead_letters"],
            Counter(data["rows"]),
            {(t, p): o for t, p, o in data["offsets"]},
            data["max_source_ts_ms"],
        )


def process(records: Iterable[Record]) -> tuple[dict[str, list[tuple]], list[DeadLetter], StageStats]:
    """The shared transform over a slice of records (no I/O)."""
    rows: dict[str, list[tuple]] = {table: [] for table in COLUMNS}
    dead: list[DeadLetter] = []
    stats = StageStats()
    offsets = stats.offsets
    for topic, partition, offset, key, value in records:
        stats.records += 1
        tp = (topic, partition)
        if offset + 1 > offsets.get(tp, 0):
            offsets[tp] = offset + 1
        try:
            event = parse(topic, partition, offset, value)
            if event is None:
                stats.tombstones += 1
                continue
            table, row = transform(event)
        except EventError as exc:
            dead.append(DeadLetter(topic, partition, offset, exc.reason, key, value))
            continue
        rows[table].append(row)
        if event.ts_ms > stats.max_source_ts_ms:
            stats.max_source_ts_ms = event.ts_ms
    for table, table_rows in rows.items():
        stats.rows[table] = len(table_rows)
    stats.dead_letters = len(dead)
    return rows, dead, stats


def write_stage(conn, token: str, rows: dict[str, list[tuple]], dead: list[DeadLetter]) -> None:
    """COPY the slice into the staging tables, tagged with the batch token (one transaction)."""
    with conn.cursor() as cur:
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            columns = ", ".join(("batch_token", *COLUMNS[table], *LINEAGE))
            with cur.copy(f"COPY stg_{table} ({columns}) FROM STDIN") as copy:
                for row in table_rows:
                    copy.write_row((token, *row))
        if dead:
            with cur.copy(
                "COPY stg_dead_letters (batch_token, kafka_topic, kafka_partition, kafka_offset, reason, "
                "raw_key, raw_value) FROM STDIN"
            ) as copy:
                for d in dead:
                    copy.write_row((token, d.topic, d.partition, d.offset, d.reason, d.key, d.value))
    conn.commit()


def stage(
    conninfo: dict[str, Any], token: str, records: Iterable[Record], dlq: dict[str, str] | None = None
) -> StageStats:
    """Executor/DoFn entry point: transform, publish dead letters to the DLQ topic, COPY into staging."""
    rows, dead, stats = process(records)
    if dead and dlq:
        from aladia_etl.bus.dlq import publish

        publish(dlq["bootstrap_servers"], dlq["topic"], dead)
    if stats.row_count or dead:
        stage_rows(conninfo, token, rows, dead)
    return stats


def stage_rows(conninfo: dict[str, Any], token: str, rows: dict[str, list[tuple]], dead: list[DeadLetter]) -> None:
    """`write_stage` on this worker's cached warehouse connection."""
    import psycopg

    try:
        write_stage(warehouse_connection(conninfo), token, rows, dead)
    except psycopg.OperationalError:
        # The cached connection may have been closed by the server (a restart, an idle timeout): once more on a
        # fresh one. Staging twice is harmless: the merge deduplicates and dead letters are kept once.
        _forget(conninfo)
        write_stage(warehouse_connection(conninfo), token, rows, dead)
    except BaseException:
        _forget(conninfo)
        raise


_CONNECTIONS: dict[tuple, Any] = {}


def _key(conninfo: dict[str, Any]) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in conninfo.items()))


def _forget(conninfo: dict[str, Any]) -> None:
    conn = _CONNECTIONS.pop(_key(conninfo), None)
    if conn is not None:
        conn.close()


def warehouse_connection(conninfo: dict[str, Any]):
    """One connection per worker process and database, kept across tasks (Spark and Beam reuse their Python
    workers; opening a connection costs a SCRAM handshake each time)."""
    import psycopg

    key = _key(conninfo)
    conn = _CONNECTIONS.get(key)
    if conn is None or conn.closed or conn.broken:
        conn = psycopg.connect(**conninfo)
        _CONNECTIONS[key] = conn
    return conn
