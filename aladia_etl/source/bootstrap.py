"""`aladia init`: check logical decoding, create the schema and publication idempotently, seed sample data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg import sql

from aladia_etl.core.errors import ConfigError
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar
from aladia_etl.source import schema
from aladia_etl.source.seed import COLUMNS, SeedSpec, generate

if TYPE_CHECKING:
    from psycopg import Connection


@dataclass
class InitResult:
    created: list[str] = field(default_factory=list)
    seeded: dict[str, int] = field(default_factory=dict)
    wal_level_fixed: bool = False
    reset: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.seeded or self.wal_level_fixed or self.reset)

    def as_dict(self) -> dict:
        return {
            "changed": self.changed,
            "created": self.created,
            "seeded": self.seeded,
            "wal_level_fixed": self.wal_level_fixed,
            "reset": self.reset,
            **({"warnings": self.warnings} if self.warnings else {}),
        }


def connect(settings: Settings, dbname: str | None = None, autocommit: bool = False) -> Connection:
    """A connection to the source database (or to `dbname` on the same server)."""
    from aladia_etl.stack.connections import connect as pg_connect

    return pg_connect(settings, dbname or settings.postgres.source_db, autocommit)


def wal_level(settings: Settings) -> str:
    with connect(settings, "postgres") as conn:
        return scalar(conn, "SHOW wal_level")


def ensure_logical_wal(settings: Settings, fix: bool, reporter: Reporter = SILENT) -> bool:
    """Returns True when the level had to be changed (and the local server was restarted)."""
    level = wal_level(settings)
    if level == "logical":
        return False
    pg = settings.postgres
    from aladia_etl.stack.postgres import LocalPostgres

    local = LocalPostgres(settings, reporter)
    if not fix or not local.process.is_running():
        hint = "'aladia init --fix' applies it on the local stack; otherwise run " if not fix else "run "
        raise ConfigError(
            f"PostgreSQL at {pg.host}:{pg.port} has wal_level = {level}; CDC needs wal_level = logical",
            f'{hint}"ALTER SYSTEM SET wal_level = logical;" as a superuser and restart PostgreSQL',
        )
    with connect(settings, "postgres", autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET wal_level = logical")
    reporter.info("set wal_level = logical; restarting the local PostgreSQL")
    local.restart()
    if wal_level(settings) != "logical":
        raise ConfigError(
            "wal_level is still not logical after a restart",
            "check postgresql.conf / postgresql.auto.conf of the server",
        )
    return True


def _exists(conn: Connection, regclass: str) -> bool:
    return scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (regclass,))


def _reset(conn: Connection, publication: str) -> None:
    conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(publication)))
    for table in (*reversed(schema.CAPTURED_TABLES), *schema.OWN_SOURCE_TABLES):
        conn.execute(f"DROP TABLE IF EXISTS public.{table} CASCADE")


def create_schema(conn: Connection, publication: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The demo tables, their triggers and replica identity, and the publication (of them and of `extra` tables,
    `schema.table`, that a pipeline file mirrors too)."""
    created: list[str] = []
    for table, ddl in schema.TABLE_DDL.items():
        if not _exists(conn, f"public.{table}"):
            conn.execute(ddl)
            created.append(f"table {table}")
    for ddl in schema.INDEX_DDL:
        conn.execute(ddl)
    conn.execute(schema.UPDATED_AT_FUNCTION)
    for table in schema.CAPTURED_TABLES:
        trigger = f"{table}_set_updated_at"
        if not conn.execute("SELECT 1 FROM pg_trigger WHERE tgname = %s", (trigger,)).fetchone():
            conn.execute(schema.updated_at_trigger(table))
            created.append(f"trigger {trigger}")
    for table in (*schema.CAPTURED_TABLES, schema.HEARTBEAT_TABLE):
        identity = scalar(conn, "SELECT relreplident FROM pg_class WHERE oid = %s::regclass", (f"public.{table}",))
        if identity != "f":
            conn.execute(f"ALTER TABLE public.{table} REPLICA IDENTITY FULL")
            created.append(f"replica identity full on {table}")
    created += publish(conn, publication, (*(f"public.{t}" for t in schema.CAPTURED_TABLES), *extra))
    return created


def publish(conn: Connection, publication: str, tables: tuple[str, ...]) -> list[str]:
    """Create the publication, or update it, to hold exactly `tables` (`schema.table`) and aladia's own tables
    (heartbeat, signals)."""
    wanted = [*dict.fromkeys(tables), *(f"public.{t}" for t in schema.OWN_SOURCE_TABLES)]
    identifiers = sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in wanted)
    row = conn.execute("SELECT pubviaroot FROM pg_publication WHERE pubname = %s", (publication,)).fetchone()
    if not row:
        # a partitioned table's changes are published under its own name, not its partitions'
        conn.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = true)").format(
                sql.Identifier(publication), identifiers
            )
        )
        return [f"publication {publication}"]
    changed = []
    if not row[0]:
        conn.execute(
            sql.SQL("ALTER PUBLICATION {} SET (publish_via_partition_root = true)").format(sql.Identifier(publication))
        )
        changed.append(f"publication {publication} publishes partitions under their root")
    have = {
        f"{r[0]}.{r[1]}"
        for r in conn.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (publication,)
        )
    }
    if have != set(wanted):
        conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(publication), identifiers))
        changed.append(f"publication {publication} tables")
    return changed


def capture(
    settings: Settings, tables: tuple[str, ...], identities: dict[str, str], fix: bool, reporter: Reporter = SILENT
) -> InitResult:
    """`aladia init` for a pipeline file without the demo model: no demo table is created. Check wal_level, make
    the heartbeat table, set the publication to exactly the captured tables; a table whose replica identity is not
    FULL (its deletes and updates would lack the old row and unchanged large values) gets it with `fix`, else a
    warning with the fix. `identities`: each table's replica identity (d, f, n, i)."""
    result = InitResult()
    result.wal_level_fixed = ensure_logical_wal(settings, fix, reporter)
    with connect(settings) as conn:
        for own in schema.OWN_SOURCE_TABLES:
            if not _exists(conn, f"public.{own}"):
                conn.execute(schema.TABLE_DDL[own])
                result.created.append(f"table {own}")
        for table in tables:
            if identities.get(table, "f") == "f":
                continue
            if fix:
                conn.execute(
                    sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(sql.Identifier(*table.split(".", 1)))
                )
                result.created.append(f"replica identity full on {table}")
            else:
                result.warnings.append(
                    f"{table} has REPLICA IDENTITY {IDENTITIES.get(identities[table], '?')}: its deletes and updates "
                    "would not carry the whole old row nor unchanged large (TOASTed) values — rerun with --fix, or "
                    f"run 'ALTER TABLE {table} REPLICA IDENTITY FULL'"
                )
        result.created += publish(conn, settings.cdc.publication, tables)
        conn.commit()
    return result


IDENTITIES = {"d": "DEFAULT", "n": "NOTHING", "i": "USING INDEX", "f": "FULL"}


def seed(conn: Connection, spec: SeedSpec) -> dict[str, int]:
    counts = {t: scalar(conn, f"SELECT count(*) FROM public.{t}") for t in schema.CAPTURED_TABLES}
    if any(counts.values()):
        return {}
    rows = generate(spec)
    for table in schema.CAPTURED_TABLES:
        columns = ", ".join(COLUMNS[table])
        with conn.cursor().copy(f"COPY public.{table} ({columns}) FROM STDIN") as copy:
            for row in rows[table]:
                copy.write_row(row)
    return {table: len(rows[table]) for table in schema.CAPTURED_TABLES}


def bootstrap(
    settings: Settings,
    spec: SeedSpec,
    *,
    reset: bool = False,
    fix: bool = False,
    with_seed: bool = True,
    reporter: Reporter = SILENT,
    extra: tuple[str, ...] = (),
) -> InitResult:
    """The demo source (the built-in orders model's tables), seeded; `extra`: tables a pipeline file mirrors too,
    added to the publication."""
    result = InitResult()
    result.wal_level_fixed = ensure_logical_wal(settings, fix, reporter)
    publication = settings.cdc.publication
    with connect(settings) as conn:
        if reset:
            _reset(conn, publication)
            result.reset = True
        result.created = create_schema(conn, publication, extra)
        if with_seed:
            result.seeded = seed(conn, spec)
        conn.commit()
    return result
