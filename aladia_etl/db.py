"""PostgreSQL connections with errors that name the server, the database and the fix."""

from __future__ import annotations

from aladia_etl.errors import ServiceUnavailable
from aladia_etl.settings import Settings


def connect(settings: Settings, dbname: str, autocommit: bool = False):
    import psycopg

    pg = settings.postgres
    try:
        return psycopg.connect(**pg.conninfo(dbname), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(
            f"PostgreSQL is not reachable at {pg.host}:{pg.port} (database {dbname}): {text}",
            "start it with 'aladia up' or set ALADIA_POSTGRES__HOST/PORT/USER/PASSWORD",
        ) from None
