"""The peers the engines are measured against: Debezium's JDBC sink connector in the same Connect worker, and
PostgreSQL's native logical replication (publication → subscription), the ceiling for copying rows."""

from __future__ import annotations

import time

from psycopg import sql

from aladia_etl.cdc.service import client_for, retire, wait_running
from aladia_etl.core import versions
from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar
from aladia_etl.flows.bench.setup import BenchNames, admin, recreate_database
from aladia_etl.source import schema
from aladia_etl.stack.connections import connect


def jdbc_config(settings: Settings, names: BenchNames, topics: list[str]) -> dict[str, str]:
    pg = settings.postgres
    return {
        "connector.class": versions.JDBC_SINK_CONNECTOR_CLASS,
        "tasks.max": "1",
        "topics": ",".join(topics),
        "connection.url": f"jdbc:postgresql://{pg.host}:{pg.port}/{names.jdbc_db}",
        "connection.username": pg.user,
        "connection.password": pg.password.get_secret_value(),
        "insert.mode": "upsert",
        "delete.enabled": "true",
        "primary.key.mode": "record_key",
        "schema.evolution": "basic",
        "use.time.zone": "UTC",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "consumer.override.auto.offset.reset": "earliest",
        "consumer.override.max.poll.records": "5000",
    }


def committed(settings: Settings, group: str, topics: list[str]) -> int:
    from aladia_etl.stack.connections import admin as kafka_admin
    from aladia_etl.stack.connections import closing

    with closing(kafka_admin(settings)) as a:
        offsets = a.list_group_offsets({group: None}).get(group, {})
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic in topics and meta.offset >= 0)


def run_jdbc_sink(settings: Settings, names: BenchNames, topics: list[str], total: int, timeout: float = 1800) -> dict:
    """Drain the bench topics with the JDBC sink into a fresh database; time from the first committed progress to
    the last record (Connect commits sink offsets every second)."""
    recreate_database(settings, names.jdbc_db)
    client = client_for(settings)
    connector = names.jdbc_connector
    group = f"connect-{connector}"
    registered = time.monotonic()
    client.put_config(connector, jdbc_config(settings, names, topics))
    try:
        wait_running(client, connector, timeout=120)
        first_at, first_done, done = None, 0, 0
        deadline = time.monotonic() + timeout
        while done < total:
            if time.monotonic() > deadline:
                raise AladiaError(
                    f"the JDBC sink did not drain {total} records within {timeout:.0f} s ({done} done)",
                    f"see 'aladia cdc status {connector}' and the Connect log",
                )
            status = client.status(connector) or {}
            if any(t.get("state") == "FAILED" for t in status.get("tasks", [])):
                trace = status["tasks"][0].get("trace", "").splitlines()
                raise AladiaError(
                    f"the JDBC sink task failed: {trace[0] if trace else 'no trace'}",
                    "see the Connect log",
                    detail="\n".join(trace[:20]),
                )
            done = committed(settings, group, topics)
            if first_at is None and done > 0:
                first_at, first_done = time.monotonic(), done
            time.sleep(0.25)
        finished = time.monotonic()
    finally:
        retire(client, connector)  # its consumer gone before the bench deletes the topics it reads
    measured = done - first_done
    seconds = finished - first_at if first_at else None
    return {
        "records": done,
        "seconds": round(seconds, 3) if seconds else None,
        "events_per_s": round(measured / seconds, 1) if seconds else None,
        "wall_s_including_start": round(finished - registered, 3),
        "connector_version": versions.DEBEZIUM_JDBC_SINK_VERSION,
    }


def prepare_native(settings: Settings, names: BenchNames) -> None:
    """Before the fill: a target database with the source's tables and seed rows, and a slot at this point."""
    recreate_database(settings, names.native_db)
    with connect(settings, names.native_db, autocommit=True) as dst:
        for ddl in schema.TABLE_DDL.values():
            dst.execute(ddl)
    with connect(settings, names.source_db) as src, connect(settings, names.native_db) as dst:
        for table in (*schema.CAPTURED_TABLES, schema.HEARTBEAT_TABLE):
            with (
                src.cursor().copy(f"COPY public.{table} TO STDOUT") as out,
                dst.cursor().copy(f"COPY public.{table} FROM STDIN") as into,
            ):
                for block in out:
                    into.write(block)
        dst.commit()
        src.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (names.native_slot,))
        src.commit()


def run_native(settings: Settings, names: BenchNames, end_lsn: str, changes: int, timeout: float = 1800) -> dict:
    """Apply everything since the slot with a subscription in the target database; rows/s until caught up."""
    pg = settings.postgres
    dsn = (
        f"host={pg.host} port={pg.port} dbname={names.source_db} user={pg.user} "
        f"password={pg.password.get_secret_value()}"
    )
    with connect(settings, names.native_db, autocommit=True) as dst:
        started = time.monotonic()
        dst.execute(
            sql.SQL(
                "CREATE SUBSCRIPTION aladia_bench_sub CONNECTION {} PUBLICATION {} WITH (create_slot = false, "
                "slot_name = {}, copy_data = false, enabled = true)"
            ).format(sql.Literal(dsn), sql.Identifier(names.publication), sql.Literal(names.native_slot))
        )
        with admin(settings) as conn:
            deadline = time.monotonic() + timeout
            while True:
                caught_up = conn.execute(
                    "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                    (end_lsn, names.native_slot),
                ).fetchone()
                if caught_up and caught_up[0]:
                    break
                if time.monotonic() > deadline:
                    raise AladiaError("native logical replication did not catch up", "see the PostgreSQL log")
                time.sleep(0.05)
        seconds = time.monotonic() - started
        counts = {t: scalar(dst, f"SELECT count(*) FROM public.{t}") for t in schema.CAPTURED_TABLES}
        dst.execute("DROP SUBSCRIPTION aladia_bench_sub")
    with connect(settings, names.source_db) as src:
        source_counts = {t: scalar(src, f"SELECT count(*) FROM public.{t}") for t in schema.CAPTURED_TABLES}
    return {
        "changes": changes,
        "seconds": round(seconds, 3),
        "rows_per_s": round(changes / seconds, 1),
        "target_matches_source": counts == source_counts,
    }
