"""Fake transports for unit tests of pure logic: a Kafka consumer over in-memory partitions and a PostgreSQL
connection that records what is written. They stand in for the network, never for aladia's own methods."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class FakeConsumer:
    """kafka-python's KafkaConsumer surface used by aladia, over {(topic, partition): [(offset, key, value)]}.
    `begin` maps a partition to its log start (records before it were deleted by retention)."""

    def __init__(self, logs: dict[tuple[str, int], list[tuple[int, bytes | None, bytes | None]]], begin=None):
        self.logs = logs
        self.begin = begin or {}
        self.positions: dict = {}
        self.assigned: list = []
        self.polls = 0
        self.closed = False
        self.committed: dict = {}

    # metadata
    def topics(self) -> set[str]:
        return {t for t, _ in self.logs}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {p for t, p in self.logs if t == topic}

    def beginning_offsets(self, tps):
        return {tp: self.begin.get((tp.topic, tp.partition), 0) for tp in tps}

    def end_offsets(self, tps):
        def end(key):
            log = self.logs[key]
            return log[-1][0] + 1 if log else self.begin.get(key, 0)

        return {tp: end((tp.topic, tp.partition)) for tp in tps}

    # reading
    def assign(self, tps) -> None:
        self.assigned = list(tps)

    def seek(self, tp, offset: int) -> None:
        self.positions[(tp.topic, tp.partition)] = offset

    def position(self, tp) -> int:
        return self.positions[(tp.topic, tp.partition)]

    def poll(self, timeout_ms: int = 0, max_records: int = 500):
        from kafka.errors import OffsetOutOfRangeError

        self.polls += 1
        out = {}
        for tp in self.assigned:
            key = (tp.topic, tp.partition)
            position = self.positions[key]
            if position < self.begin.get(key, 0):
                raise OffsetOutOfRangeError({tp: position})
            records = [FakeRecord(tp.topic, tp.partition, o, k, v) for o, k, v in self.logs[key] if o >= position]
            records = records[:max_records]
            if records:
                out[tp] = records
                self.positions[key] = records[-1].offset + 1
        return out

    def commit(self, offsets) -> None:
        self.committed.update(offsets)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakePostgres:
    """A psycopg connection's surface used by the staging code; COPY rows and statements are recorded."""

    copies: dict[str, list[tuple]] = field(default_factory=dict)
    statements: list[tuple[str, Any]] = field(default_factory=list)
    transactions: int = 0
    closed: bool = False
    broken: bool = False

    @contextlib.contextmanager
    def transaction(self):
        self.transactions += 1
        yield

    def execute(self, sql: str, params: Any = None):
        self.statements.append((sql, params))
        return self

    def fetchone(self):
        return (1,)

    def cursor(self):
        return _FakeCursor(self)

    def close(self) -> None:
        self.closed = True


class _FakeCursor:
    def __init__(self, conn: FakePostgres) -> None:
        self.conn = conn

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def execute(self, sql: str, params: Any = None):
        self.conn.statements.append((sql, params))

    @contextlib.contextmanager
    def copy(self, sql: str):
        table = sql.split()[1]
        rows = self.conn.copies.setdefault(table, [])

        class _Copy:
            def write_row(self, row) -> None:
                rows.append(tuple(row))

        yield _Copy()
