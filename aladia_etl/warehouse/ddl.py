"""The warehouse DDL a compiled pipeline implies, planned against the current warehouse and applied before a stream
starts (as migrations are): create a table, add a column, widen a type — and, only with `--allow-destructive`,
drop a column or a table, narrow or change a type, change a key.

The built-in orders model's tables belong to the versioned migrations (`warehouse/sql/`); every other sink's tables
are planned here: the warehouse table (the sink's columns, then the position columns, its key as primary key), its
UNLOGGED staging table in `aladia_staging`, and for hard deletes its tombstones. Each table aladia creates carries a
comment naming its source, so that a table no longer in the pipeline is recognised (and dropped only when asked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aladia_etl.core.errors import AladiaError, ExitCode
from aladia_etl.warehouse.merge import staging as staging_name
from aladia_etl.warehouse.merge import target as target_name
from aladia_etl.warehouse.merge import tombstones as tombstones_name
from aladia_etl.warehouse.schema import LINEAGE
from aladia_etl.warehouse.sinks import STAGING_SCHEMA, TOMBSTONES_SCHEMA, Sink, identifier
from aladia_etl.warehouse.staging import quoted

if TYPE_CHECKING:
    from psycopg import Connection

MARK = "aladia: from "  # COMMENT ON TABLE: a table aladia created, and from which source table
POSITION_DDL = (
    "is_deleted BOOLEAN NOT NULL DEFAULT false",
    "source_commit_lsn BIGINT NOT NULL",
    "source_lsn BIGINT NOT NULL",
    "source_ts TIMESTAMPTZ NOT NULL",
    "loaded_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()",
)
STAGING_LINEAGE_DDL = (
    "is_deleted BOOLEAN NOT NULL",
    "source_commit_lsn BIGINT NOT NULL",
    "source_lsn BIGINT NOT NULL",
    "source_ts TIMESTAMPTZ NOT NULL",
    "kafka_topic TEXT NOT NULL",
    "kafka_partition INTEGER NOT NULL",
    "kafka_offset BIGINT NOT NULL",
    "staged_at TIMESTAMPTZ NOT NULL DEFAULT now()",
)
OWN_COLUMNS = frozenset(("is_deleted", "source_commit_lsn", "source_lsn", "source_ts", "loaded_at"))
LOCK = 7261  # the migrations' lock: one schema change at a time


class DestructiveChange(AladiaError):
    exit_code = ExitCode.CONFIG


@dataclass(frozen=True)
class Change:
    action: str  # create schema | create table | add column | widen | drop column | change type | change key | ...
    table: str
    sql: tuple[str, ...]
    destructive: bool = False
    detail: str = ""
    column: str = ""  # the column an add or drop is about

    def as_dict(self) -> dict:
        return {
            "action": self.action,
            "table": self.table,
            "detail": self.detail,
            "destructive": self.destructive,
            "sql": list(self.sql),
        }


def _owned(sink: Sink) -> bool:
    """Sinks whose tables this module plans (not the built-in model's: the migrations own those)."""
    return not (sink.model == "orders" and sink.staging_schema == "public")


def create_target(sink: Sink) -> str:
    columns = [f"{quoted(c.name)} {c.sql_type}{' NOT NULL' if c.name in sink.key else ''}" for c in sink.columns]
    keys = ", ".join(quoted(k) for k in sink.key)
    return f"CREATE TABLE {target_name(sink)} ({', '.join([*columns, *POSITION_DDL])}, PRIMARY KEY ({keys}))"


def create_staging(sink: Sink) -> list[str]:
    columns = [f"{quoted(c.name)} {c.sql_type}" for c in sink.columns]
    name = staging_name(sink)
    index = quoted(identifier(sink.staging_table + "_token_idx"))
    return [
        f"DROP TABLE IF EXISTS {name}",
        f"CREATE UNLOGGED TABLE {name} (batch_token TEXT NOT NULL, {', '.join([*columns, *STAGING_LINEAGE_DDL])})",
        f"CREATE INDEX {index} ON {name} (batch_token)",
    ]


def create_tombstones(sink: Sink) -> str:
    columns = [f"{quoted(c.name)} {c.sql_type} NOT NULL" for c in sink.columns if c.name in sink.key]
    keys = ", ".join(quoted(k) for k in sink.key)
    return (
        f"CREATE TABLE IF NOT EXISTS {tombstones_name(sink)} ({', '.join(columns)}, source_commit_lsn BIGINT NOT NULL, "
        f"source_lsn BIGINT NOT NULL, PRIMARY KEY ({keys}))"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


COLUMNS_OF = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a
 WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""
KEY_OF = """
SELECT array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
  FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
 WHERE i.indrelid = to_regclass(%s) AND i.indisprimary
"""
OWNED_TABLES = """
SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND obj_description(c.oid, 'pg_class') LIKE 'aladia: from %%'
"""


def widens(old: str, new: str) -> bool:
    """Whether a column of type `old` can become `new` with every value kept exactly (no rewrite that loses)."""
    if old.endswith("[]") and new.endswith("[]"):
        return widens(old[:-2], new[:-2])
    ints = ["smallint", "integer", "bigint"]
    if old in ints and (new == "numeric" or (re.fullmatch(r"numeric\((\d+),(\d+)\)", new) and _fits_ints(old, new))):
        return True
    stamp = re.compile(r"(timestamp|time)(?:\((\d)\))? (with|without) time zone")
    found_old, found_new = stamp.fullmatch(old), stamp.fullmatch(new)
    if found_old and found_new and found_old[1] == found_new[1] and found_old[3] == found_new[3]:
        return int(found_new[2] or 6) > int(found_old[2] or 6)
    if old in ints and new in ints:
        return ints.index(new) > ints.index(old)
    if old == "real" and new == "double precision":
        return True
    varchar = re.compile(r"character varying\((\d+)\)")
    found_old, found_new = varchar.fullmatch(old), varchar.fullmatch(new)
    if found_old and (new in ("text", "character varying") or (found_new and int(found_new[1]) > int(found_old[1]))):
        return True
    numeric = re.compile(r"numeric\((\d+),(\d+)\)")
    found_old, found_new = numeric.fullmatch(old), numeric.fullmatch(new)
    if found_old and new == "numeric":
        return True
    if found_old and found_new:
        p, s, p2, s2 = int(found_old[1]), int(found_old[2]), int(found_new[1]), int(found_new[2])
        return (p2, s2) != (p, s) and s2 >= s and p2 - s2 >= p - s
    return False


def plan(conn: Connection, all_sinks: tuple[Sink, ...]) -> list[Change]:
    """What the warehouse needs for the pipeline's sinks, from what it holds now."""
    changes: list[Change] = []
    sinks = [s for s in all_sinks if _owned(s)]
    schemas = sorted(
        {s.target_schema for s in sinks}
        | ({STAGING_SCHEMA} if sinks else set())
        | ({TOMBSTONES_SCHEMA} if any(s.deletes == "hard" for s in sinks) else set())
    )
    existing = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
    for schema in schemas:
        if schema not in existing:
            changes.append(Change("create schema", schema, (f"CREATE SCHEMA {quoted(schema)}",)))
    for sink in sinks:
        changes += _plan_sink(conn, sink)
    wanted = {(s.target_schema, s.target_table) for s in sinks}
    for schema, table, comment in conn.execute(OWNED_TABLES).fetchall():
        if (schema, table) not in wanted and schema != "public":
            name = f"{quoted(schema)}.{quoted(table)}"
            changes.append(
                Change(
                    "drop table",
                    f"{schema}.{table}",
                    (f"DROP TABLE {name}",),
                    destructive=True,
                    detail=f"no longer in the pipeline ({comment})",
                )
            )
    return changes


def _plan_sink(conn: Connection, sink: Sink) -> list[Change]:
    table = sink.target
    target = target_name(sink)
    have: dict[str, str] = dict(conn.execute(COLUMNS_OF, (target,)).fetchall())
    changes: list[Change] = []
    comment = f"COMMENT ON TABLE {target} IS {_literal(MARK + sink.source)}"
    if not have:
        changes.append(Change("create table", table, (create_target(sink), comment), detail=f"from {sink.source}"))
    else:
        changes += _plan_columns(sink, have)
        key_row = conn.execute(KEY_OF, (target,)).fetchone()
        key = tuple(key_row[0]) if key_row and key_row[0] else ()
        if key != sink.key:
            keys = ", ".join(quoted(k) for k in sink.key)
            found = conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'", (target,)
            ).fetchone()
            sql = [f"ALTER TABLE {target} DROP CONSTRAINT {quoted(found[0])}"] if found else []
            sql.append(f"ALTER TABLE {target} ADD PRIMARY KEY ({keys})")
            if sink.deletes == "hard":  # the tombstones are kept by key: they start again
                sql += [f"DROP TABLE IF EXISTS {tombstones_name(sink)}", create_tombstones(sink)]
            changes.append(
                Change(
                    "change key",
                    table,
                    tuple(sql),
                    destructive=True,
                    detail=f"({', '.join(key)}) → ({', '.join(sink.key)})",
                )
            )
    staged: dict[str, str] = dict(conn.execute(COLUMNS_OF, (staging_name(sink),)).fetchall())
    wanted_staging = {c.name: c.sql_type for c in sink.columns}
    if {k: v for k, v in staged.items() if k not in _STAGING_OWN} != wanted_staging:
        changes.append(Change("create staging", sink.staging_table, tuple(create_staging(sink))))
    if sink.deletes == "hard" and not any(c.action == "change key" for c in changes):
        tomb: dict[str, str] = dict(conn.execute(COLUMNS_OF, (tombstones_name(sink),)).fetchall())
        wanted_tomb = {c.name: c.sql_type for c in sink.columns if c.name in sink.key}
        if not tomb:
            changes.append(Change("create tombstones", table, (create_tombstones(sink),)))
        elif (
            (have_tomb := {k: v for k, v in tomb.items() if k not in ("source_commit_lsn", "source_lsn")})
            != (wanted_tomb)
            and have_tomb.keys() == wanted_tomb.keys()
            and all(have_tomb[k] == v or widens(have_tomb[k], v) for k, v in wanted_tomb.items())
        ):  # a key column widened: the tombstones follow, their positions kept
            name = tombstones_name(sink)
            changes.append(
                Change(
                    "widen",
                    f"{table} tombstones",
                    tuple(
                        f"ALTER TABLE {name} ALTER COLUMN {quoted(k)} TYPE {v}"
                        for k, v in wanted_tomb.items()
                        if have_tomb[k] != v
                    ),
                    detail="the key's type widened",
                )
            )
        elif have_tomb != wanted_tomb:
            changes.append(
                Change(
                    "recreate tombstones",
                    table,
                    (f"DROP TABLE {tombstones_name(sink)}", create_tombstones(sink)),
                    destructive=True,
                    detail="the key's type changed: the positions of earlier hard deletes are forgotten",
                )
            )
    if sink.deletes == "hard" and have and "is_deleted" in have:
        soft = conn.execute(f"SELECT 1 FROM {target} WHERE is_deleted LIMIT 1").fetchone()
        if soft:  # the table kept soft deletes before: they become hard ones, their positions kept
            keys = ", ".join(quoted(k) for k in sink.key)
            changes.append(
                Change(
                    "remove soft-deleted rows",
                    table,
                    (
                        f"INSERT INTO {tombstones_name(sink)} ({keys}, source_commit_lsn, source_lsn) "
                        f"SELECT {keys}, source_commit_lsn, source_lsn FROM {target} WHERE is_deleted "
                        "ON CONFLICT DO NOTHING",
                        f"DELETE FROM {target} WHERE is_deleted",
                    ),
                    detail="deletes: hard",
                )
            )
    return changes


_STAGING_OWN = frozenset(("batch_token", *LINEAGE, "staged_at"))  # a staging table's own columns


def _plan_columns(sink: Sink, have: dict[str, str]) -> list[Change]:
    changes = []
    target = target_name(sink)
    for column in sink.columns:
        current = have.get(column.name)
        if current is None:
            changes.append(
                Change(
                    "add column",
                    sink.target,
                    (f"ALTER TABLE {target} ADD COLUMN {quoted(column.name)} {column.sql_type}",),
                    detail=f"{column.name} {column.sql_type}",
                )
            )
        elif current != column.sql_type:
            sql = (f"ALTER TABLE {target} ALTER COLUMN {quoted(column.name)} TYPE {column.sql_type}",)
            if widens(current, column.sql_type):
                changes.append(Change("widen", sink.target, sql, detail=f"{column.name} {current} → {column.sql_type}"))
            else:
                changes.append(
                    Change(
                        "change type",
                        sink.target,
                        (f"{sql[0]} USING {quoted(column.name)}::{column.sql_type}",),
                        destructive=True,
                        detail=f"{column.name} {current} → {column.sql_type} (values may not fit, or change)",
                    )
                )
    wanted = {c.name for c in sink.columns} | OWN_COLUMNS | set(sink.retired)
    for name in have:
        if name not in wanted:
            changes.append(
                Change(
                    "drop column",
                    sink.target,
                    (f"ALTER TABLE {target} DROP COLUMN {quoted(name)}",),
                    destructive=True,
                    detail=f"{name} is no longer in the pipeline (its values would be lost)",
                    column=name,
                )
            )
    return changes


def _fits_ints(old: str, new: str) -> bool:
    digits = {"smallint": 5, "integer": 10, "bigint": 19}[old]
    found = re.fullmatch(r"numeric\((\d+),(\d+)\)", new)
    return found is not None and int(found[1]) - int(found[2]) >= digits


def apply_plan(
    conn: Connection,
    sinks: tuple[Sink, ...],
    allow_destructive: bool = False,
    drops: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> list[Change]:
    """Plan and apply in one transaction under the schema lock: two streams starting together plan one after the
    other (the second finds the tables the first created). `drops`: (table, column) drops the pipeline's
    schema_changes policy asks for (columns dropped in the source), allowed without `allow_destructive`."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        changes = [
            replace(c, destructive=False) if c.action == "drop column" and (c.table, c.column) in drops else c
            for c in plan(conn, sinks)
        ]
        _refuse_destructive(changes, allow_destructive)
        for change in changes:
            for statement in change.sql:
                conn.execute(statement)
    return changes


def _refuse_destructive(changes: list[Change], allow_destructive: bool, label: str = "the pipeline") -> None:
    destructive = [c for c in changes if c.destructive]
    if destructive and not allow_destructive:
        first = destructive[0]
        more = f" (and {len(destructive) - 1} more)" if len(destructive) > 1 else ""
        raise DestructiveChange(
            f"{label} needs a destructive warehouse change: {first.action} {first.table}: {first.detail}{more}; "
            "nothing was changed",
            "review it with 'aladia pipeline plan', then rerun with --allow-destructive (or change the pipeline)",
        )


def apply(
    conn: Connection, changes: list[Change], allow_destructive: bool = False, label: str = "the pipeline"
) -> list[Change]:
    """Apply the plan in one transaction (an autocommit connection is expected); a destructive change without
    `allow_destructive` refuses the whole plan in one line, changing nothing."""
    _refuse_destructive(changes, allow_destructive, label)
    if not changes:
        return []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        for change in changes:
            for statement in change.sql:
                conn.execute(statement)
    return changes
