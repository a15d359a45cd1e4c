"""Versioned warehouse schema: ordered migrations (`warehouse/sql/NNNN_name.sql`) applied once each, recorded in
`schema_version`. A warehouse created by an earlier release is upgraded in place: migration 1 is the first
release's schema, written to be a no-op on such a warehouse, and later migrations only add to it.

`aladia stream` migrates before it starts; `aladia migrate` does it explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from aladia_etl.core.errors import AladiaError
from aladia_etl.core.sql import scalar

if TYPE_CHECKING:
    from psycopg import Connection

LOCK = 7261  # pg_advisory_xact_lock key: one migrator at a time
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in body.split(";") if s.strip()]


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("aladia_etl.warehouse").joinpath("sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"warehouse migrations are not numbered 1..n: {[m.version for m in found]}")
    return found


LATEST = len(migrations())


def current_version(conn: Connection) -> int:
    if scalar(conn, "SELECT to_regclass('schema_version')") is None:
        return 0
    return scalar(conn, "SELECT coalesce(max(version), 0) FROM schema_version")


def migrate(conn: Connection) -> list[Migration]:
    """Apply every pending migration, in order, in one transaction (an autocommit connection is expected).
    Returns the migrations applied (none when the warehouse is current)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
        )
        have = current_version(conn)
        if have > LATEST:
            raise AladiaError(
                f"the warehouse's schema is version {have}, newer than this aladia's ({LATEST}): a later release "
                "upgraded it, and this one would write to it in a shape it no longer has",
                "upgrade aladia (pip install -U aladia-etl) wherever a stream or a command writes to this warehouse",
            )
        pending = [m for m in migrations() if m.version > have]
        for migration in pending:
            for statement in migration.statements():
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)", (migration.version, migration.name)
            )
    return pending
