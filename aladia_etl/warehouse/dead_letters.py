"""The dead-letter table: list, show, purge, and what a replay changes. Every record that could not become a
warehouse row is kept here once (keyed by its Kafka topic, partition and offset) with its reason and its bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import Connection

STATUSES = ("dead", "replayed")

_COLUMNS = (
    "id, kafka_topic, kafka_partition, kafka_offset, engine, status, reason, first_reason, replay_attempts, "
    "failed_at, replayed_at"
)


@dataclass
class DeadLetterRow:
    id: int
    topic: str
    partition: int
    offset: int
    engine: str
    status: str
    reason: str
    first_reason: str | None
    replay_attempts: int
    failed_at: datetime
    replayed_at: datetime | None
    key: bytes | None = None
    value: bytes | None = None

    def as_dict(self, with_bytes: bool = False) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("key", "value")}
        if with_bytes:
            data["key"] = _bytes(self.key)
            data["value"] = _bytes(self.value)
        return data


def _bytes(raw: bytes | None) -> dict[str, Any] | None:
    """Raw bytes for JSON: as text when they are UTF-8, always as base64 too."""
    import base64

    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"text": text, "base64": base64.b64encode(raw).decode("ascii"), "length": len(raw)}


def _row(record: tuple, with_bytes: bool = False) -> DeadLetterRow:
    row = DeadLetterRow(*record[:11])
    if with_bytes:
        row.key = None if record[11] is None else bytes(record[11])
        row.value = None if record[12] is None else bytes(record[12])
    return row


def list_dead_letters(
    conn: Connection,
    since: date | None = None,
    reason: str | None = None,
    status: str | None = "dead",
    limit: int = 100,
    topic: str | None = None,
) -> list[DeadLetterRow]:
    """`topic`: only the dead letters of one table (its CDC topic)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letters "
        "WHERE (%(since)s::date IS NULL OR failed_at >= %(since)s::date) "
        "AND (%(reason)s::text IS NULL OR strpos(lower(reason), lower(%(reason)s)) > 0) "
        "AND (%(status)s::text IS NULL OR status = %(status)s) "
        "AND (%(topic)s::text IS NULL OR kafka_topic = %(topic)s) "
        "ORDER BY id LIMIT %(limit)s",
        {"since": since, "reason": reason, "status": status, "limit": limit, "topic": topic},
    ).fetchall()
    return [_row(r) for r in rows]


def get(conn: Connection, ids: list[int]) -> list[DeadLetterRow]:
    rows = conn.execute(
        f"SELECT {_COLUMNS}, raw_key, raw_value FROM dead_letters WHERE id = ANY(%s) ORDER BY id", (ids,)
    ).fetchall()
    return [_row(r, with_bytes=True) for r in rows]


def waiting(conn: Connection) -> list[int]:
    """Ids of every dead letter not replayed yet."""
    return [r[0] for r in conn.execute("SELECT id FROM dead_letters WHERE status = 'dead' ORDER BY id")]


def purge(conn: Connection, before: date, status: str | None = None) -> int:
    return conn.execute(
        "DELETE FROM dead_letters WHERE failed_at < %(before)s::date "
        "AND (%(status)s::text IS NULL OR status = %(status)s)",
        {"before": before, "status": status},
    ).rowcount


MARK_REPLAYED = """
UPDATE dead_letters d SET status = 'replayed', replayed_at = clock_timestamp(), replay_attempts = replay_attempts + 1
 WHERE d.id = ANY(%(ids)s)
   AND NOT EXISTS (SELECT 1 FROM stg_dead_letters s WHERE s.batch_token = ANY(%(tokens)s)
                    AND (s.kafka_topic, s.kafka_partition, s.kafka_offset)
                      = (d.kafka_topic, d.kafka_partition, d.kafka_offset))
"""

STILL_DEAD = """
UPDATE dead_letters d SET reason = s.reason, replay_attempts = d.replay_attempts + 1
  FROM stg_dead_letters s
 WHERE d.id = ANY(%(ids)s) AND s.batch_token = ANY(%(tokens)s)
   AND (s.kafka_topic, s.kafka_partition, s.kafka_offset) = (d.kafka_topic, d.kafka_partition, d.kafka_offset)
"""
