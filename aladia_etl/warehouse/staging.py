"""The warehouse side of staging: what a staging call saw (StageStats), the dead-letter record, the COPY into the
batch's UNLOGGED staging tables, and the one warehouse connection each worker process keeps.

Staging runs where the data is (Spark executors, Beam DoFns); the apply transaction (`loader.apply_batch`)
then merges what is staged under the batch's token and sums the `stg_stats` rows written here.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aladia_etl.warehouse.schema import LINEAGE

if TYPE_CHECKING:
    from psycopg import Connection, Cursor

TopicPartitionKey = tuple[str, int]
REASON_LIMIT = 500  # characters of a dead letter's reason (it often quotes the bad value)


def storable_reason(reason: str) -> str:
    """A reason that TEXT and a Kafka header can hold: no NUL, valid UTF-8 (lone surrogates escaped), at most
    REASON_LIMIT characters, never empty."""
    text = reason[: REASON_LIMIT + 1]
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > REASON_LIMIT:
        text = text[: REASON_LIMIT - 1] + "…"
    return text or "rejected (no reason given)"


@dataclass
class DeadLetter:
    topic: str
    partition: int
    offset: int
    reason: str
    key: bytes | None
    value: bytes | None

    def __post_init__(self) -> None:
        self.reason = storable_reason(str(self.reason))


@dataclass
class StageStats:
    records: int = 0
    tombstones: int = 0
    dead_letters: int = 0
    rows: Counter = field(default_factory=Counter)
    # (topic, partition) -> next offset to read: highest offset seen + 1, or the end of a range read completely
    offsets: dict[TopicPartitionKey, int] = field(default_factory=dict)
    min_source_ts_ms: int | None = None
    max_source_ts_ms: int = 0
    # sink → {"added": fields, "missing": fields, "misfit": fields}: records of a changed table shape
    # (`warehouse.evolution`)
    drift: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return sum(self.rows.values())

    def saw_offset(self, topic: str, partition: int, next_offset: int) -> None:
        key = (topic, partition)
        if next_offset > self.offsets.get(key, 0):
            self.offsets[key] = next_offset

    def saw_drift(
        self, sink: str, added: Iterable[str] = (), missing: Iterable[str] = (), misfit: Iterable[str] = ()
    ) -> None:
        entry = self.drift.setdefault(sink, {"added": [], "missing": []})
        for kind, names in (("added", added), ("missing", missing), ("misfit", misfit)):
            found = sorted({*entry.get(kind, []), *names})
            if found or kind != "misfit":  # a shape change's entry keeps the keys it always had
                entry[kind] = found

    def saw_source_ts(self, ts_ms: int) -> None:
        if ts_ms > self.max_source_ts_ms:
            self.max_source_ts_ms = ts_ms
        if self.min_source_ts_ms is None or ts_ms < self.min_source_ts_ms:
            self.min_source_ts_ms = ts_ms

    def merge(self, other: StageStats) -> StageStats:
        self.records += other.records
        self.tombstones += other.tombstones
        self.dead_letters += other.dead_letters
        self.rows.update(other.rows)
        for (topic, partition), nxt in other.offsets.items():
            self.saw_offset(topic, partition, nxt)
        if other.min_source_ts_ms is not None:
            self.saw_source_ts(other.min_source_ts_ms)
            self.saw_source_ts(other.max_source_ts_ms)
        for sink, change in other.drift.items():
            self.saw_drift(sink, change.get("added", ()), change.get("missing", ()), change.get("misfit", ()))
        return self

    @staticmethod
    def union_drift(*drifts: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        """What records showed across `drifts` (each a `drift` value), field by field."""
        stats = StageStats()
        for drift in drifts:
            stats.merge(StageStats(drift=drift))
        return stats.drift

    def to_json(self) -> str:
        return json.dumps(
            {
                "records": self.records,
                "tombstones": self.tombstones,
                "dead_letters": self.dead_letters,
                "rows": dict(self.rows),
                "offsets": [[t, p, o] for (t, p), o in self.offsets.items()],
                "min_source_ts_ms": self.min_source_ts_ms,
                "max_source_ts_ms": self.max_source_ts_ms,
                **({"drift": self.drift} if self.drift else {}),
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageStats:
        return cls(
            data["records"],
            data["tombstones"],
            data["dead_letters"],
            Counter(data["rows"]),
            {(t, p): o for t, p, o in data["offsets"]},
            data.get("min_source_ts_ms"),
            data["max_source_ts_ms"],
            data.get("drift") or {},
        )

    @classmethod
    def from_json(cls, text: str) -> StageStats:
        return cls.from_dict(json.loads(text))


def copy_rows(cur: Cursor, token: str, rows: dict[str, list[tuple]], dead: list[DeadLetter], sinks=None) -> None:
    """COPY a chunk of rows and dead letters into the staging tables, tagged with the batch token. `sinks`: sink
    name → `warehouse.sinks.Sink` (None: the built-in pipeline's)."""
    if sinks is None:
        from aladia_etl.warehouse.compile import builtin

        sinks = {s.name: s for s in builtin().sinks}
    for name, table_rows in rows.items():
        if not table_rows:
            continue
        sink = sinks[name]
        columns = ", ".join(quoted(c) for c in ("batch_token", *sink.column_names, *LINEAGE))
        with cur.copy(f"COPY {qualified(sink.staging_schema, sink.staging_table)} ({columns}) FROM STDIN") as copy:
            for row in table_rows:
                copy.write_row((token, *row))
    if dead:
        with cur.copy(
            "COPY stg_dead_letters (batch_token, kafka_topic, kafka_partition, kafka_offset, reason, "
            "raw_key, raw_value) FROM STDIN"
        ) as copy:
            for d in dead:
                copy.write_row((token, d.topic, d.partition, d.offset, d.reason, d.key, d.value))


# PostgreSQL's reserved key words and those that cannot name a column unquoted (SQL key words appendix).
_KEYWORDS = frozenset(
    {
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "between",
        "bigint",
        "binary",
        "bit",
        "boolean",
        "both",
        "case",
        "cast",
        "char",
        "character",
        "check",
        "coalesce",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "dec",
        "decimal",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "exists",
        "extract",
        "false",
        "fetch",
        "float",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "greatest",
        "group",
        "grouping",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "inout",
        "int",
        "integer",
        "intersect",
        "interval",
        "into",
        "is",
        "isnull",
        "join",
        "json",
        "lateral",
        "leading",
        "least",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "national",
        "natural",
        "nchar",
        "none",
        "normalize",
        "not",
        "notnull",
        "null",
        "nullif",
        "numeric",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "out",
        "outer",
        "overlaps",
        "overlay",
        "placing",
        "position",
        "precision",
        "primary",
        "real",
        "references",
        "returning",
        "right",
        "row",
        "select",
        "session_user",
        "setof",
        "similar",
        "smallint",
        "some",
        "substring",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "time",
        "timestamp",
        "to",
        "trailing",
        "treat",
        "trim",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "values",
        "varchar",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
        "xmlattributes",
        "xmlconcat",
        "xmlelement",
        "xmlexists",
        "xmlforest",
        "xmlnamespaces",
        "xmlparse",
        "xmlpi",
        "xmlroot",
        "xmlserialize",
        "xmltable",
    }
)
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")


def quoted(name: str) -> str:
    """A PostgreSQL identifier as SQL: as it is when it needs no quotes, else quoted (mixed-case names, key words,
    spaces and quotes stay exactly what they are)."""
    if _PLAIN.fullmatch(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    """`schema.table` as SQL; the public schema (the search path) is left implicit."""
    return quoted(table) if schema == "public" else f"{quoted(schema)}.{quoted(table)}"


STAGING_TABLES_SQL = """
SELECT format('%I.%I', table_schema, table_name) FROM information_schema.columns
 WHERE column_name = 'batch_token' AND (table_schema = 'aladia_staging' OR
       (table_schema = 'public' AND table_name LIKE 'stg\\_%'))
 ORDER BY 1
"""


def staging_tables(conn: Connection) -> list[str]:
    """Every staging table of the warehouse (schema-qualified, quoted): the built-in model's `public.stg_*`, and the
    other sinks' tables in `aladia_staging` — whatever pipeline created them."""
    return [r[0] for r in conn.execute(STAGING_TABLES_SQL).fetchall()]


def record_stats(cur: Cursor, token: str, stats: StageStats) -> None:
    cur.execute("INSERT INTO stg_stats (batch_token, stats) VALUES (%s, %s)", (token, stats.to_json()))


# -- one cached connection per worker process and thread (a Beam worker runs bundles on several threads) ----------
_CONNECTIONS: dict[tuple, Connection] = {}
_PRUNING = threading.Lock()


def _key(conninfo: dict[str, Any]) -> tuple:
    return (threading.get_ident(), *sorted((k, str(v)) for k, v in conninfo.items()))


def forget_connection(conninfo: dict[str, Any]) -> None:
    conn = _CONNECTIONS.pop(_key(conninfo), None)
    if conn is not None:
        conn.close()


def worker_connection(conninfo: dict[str, Any]) -> Connection:
    """One connection per worker process and database, kept across tasks (Spark and Beam reuse their Python
    workers; opening a connection costs a SCRAM handshake each time). A connection the server closed (a restart,
    an idle timeout) is noticed by a ping and replaced before it is used."""
    import psycopg

    from aladia_etl.stack.connections import connect_conninfo

    key = _key(conninfo)
    with _PRUNING:
        living = {t.ident for t in threading.enumerate()}
        for gone in [k for k in list(_CONNECTIONS) if k[0] not in living]:  # a retired thread's connection
            old = _CONNECTIONS.pop(gone, None)
            if old is not None:
                old.close()
    conn = _CONNECTIONS.get(key)
    if conn is not None and not (conn.closed or conn.broken):
        try:
            conn.execute("SELECT 1")
            return conn
        except psycopg.OperationalError:
            forget_connection(conninfo)
    conn = connect_conninfo(conninfo, autocommit=True)  # callers open `conn.transaction()`
    _CONNECTIONS[key] = conn
    return conn
