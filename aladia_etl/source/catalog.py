"""What the source database holds, read from its catalog: tables with their columns (declared type, the type under a
domain, enum and array element types), primary key and replica identity. The pipeline compiler
(`warehouse.sinks`) turns it into warehouse tables; `aladia pipeline validate` and `aladia init` check it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aladia_etl.core.sql import scalar

if TYPE_CHECKING:
    from psycopg import Connection

# Type names (pg_type.typname of the type under any domain) aladia mirrors, by the converter kind it uses.
KINDS = {
    "int2": "int2",
    "int4": "int4",
    "int8": "int8",
    "numeric": "numeric",
    "float4": "float4",
    "float8": "float8",
    "bool": "bool",
    "text": "text",
    "varchar": "text",
    "bpchar": "text",
    "name": "text",
    "uuid": "uuid",
    "date": "date",
    "time": "time",
    "timetz": "timetz",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "interval": "interval",
    "json": "json",
    "jsonb": "jsonb",
    "bytea": "bytea",
}

COLUMNS = """
WITH cols AS (
    SELECT n.nspname, c.relname, a.attname, a.attnum, a.attnotnull, c.relreplident,
           format_type(a.atttypid, a.atttypmod)                              AS declared,
           coalesce(d.typbasetype, a.atttypid)                               AS base_oid,  -- under any domain
           CASE WHEN d.oid IS NOT NULL THEN d.typtypmod ELSE a.atttypmod END AS base_mod
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_type d ON d.oid = a.atttypid AND d.typtype = 'd'
     -- a partitioned table stands for its partitions (published under its name: publish_via_partition_root)
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
)
SELECT cols.nspname, cols.relname, cols.attname, cols.attnotnull, cols.relreplident, cols.declared,
       format_type(cols.base_oid, cols.base_mod), t.typname, t.typtype, e.typname, e.typtype
  FROM cols
  JOIN pg_type t ON t.oid = cols.base_oid
  LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
 ORDER BY cols.nspname, cols.relname, cols.attnum
"""

PRIMARY_KEYS = """
SELECT n.nspname, c.relname, array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
 WHERE i.indisprimary
 GROUP BY n.nspname, c.relname
"""


@dataclass(frozen=True)
class Column:
    name: str
    declared: str  # the column's type as declared (format_type), e.g. "numeric(12,2)", "my_domain", "mood[]"
    warehouse: str  # the type the warehouse stores it as: the type under a domain; an enum as text
    kind: str | None  # the converter (`KINDS`), "array:<kind>" for an array; None: a type aladia does not mirror
    not_null: bool
    type_name: str  # pg_type.typname under any domain (for messages)


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    replica_identity: str  # d (default: the key), f (full), n (nothing), i (an index)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def read_catalog(conn: Connection) -> dict[str, Table]:
    """Every ordinary or partitioned table of the database outside the system schemas, by `schema.table`."""
    keys = {(r[0], r[1]): tuple(r[2]) for r in conn.execute(PRIMARY_KEYS).fetchall()}
    found: dict[tuple[str, str], list[Column]] = {}
    identity: dict[tuple[str, str], str] = {}
    for row in conn.execute(COLUMNS).fetchall():
        schema, table, name, not_null, replident, declared, formatted, typname, typtype, elem_name, elem_type = row
        warehouse, kind = _warehouse_type(formatted, typname, typtype, elem_name, elem_type)
        found.setdefault((schema, table), []).append(Column(name, declared, warehouse, kind, not_null, typname))
        identity[(schema, table)] = replident if isinstance(replident, str) else bytes(replident).decode()
    return {
        f"{schema}.{table}": Table(schema, table, tuple(cols), keys.get((schema, table), ()), identity[(schema, table)])
        for (schema, table), cols in found.items()
    }


def _warehouse_type(formatted: str, typname: str, typtype: str, elem_name, elem_type) -> tuple[str, str | None]:
    """(the warehouse type, the converter kind or None) of a column whose type under any domain is `typname`."""
    if typtype == "e":
        return "text", "text"
    if elem_name is not None:  # an array
        if elem_type == "e":
            return "text[]", "array:text"
        kind = KINDS.get(elem_name)
        # Debezium leaves interval[] out of its events entirely
        return formatted, (f"array:{kind}" if kind and kind != "interval" else None)
    return formatted, KINDS.get(typname)


def wal_level(conn: Connection) -> str:
    return scalar(conn, "SHOW wal_level")


def duplicate_key(conn: Connection, table: Table, key: tuple[str, ...]) -> tuple | None:
    """A value of `key` that more than one row of `table` holds, or None when the key identifies every row."""
    from psycopg import sql

    columns = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    query = sql.SQL("SELECT {cols} FROM {table} GROUP BY {cols} HAVING count(*) > 1 LIMIT 1").format(
        cols=columns, table=sql.Identifier(table.schema, table.name)
    )
    row = conn.execute(query).fetchone()
    return None if row is None else tuple(row)
