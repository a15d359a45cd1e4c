"""An isolated bench environment on the running stack: its own source database, connector, slot, publication and
topics, and a fresh target database for every contender, so a bench never touches the user's pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from psycopg import sql

from aladia_etl.core.settings import Settings

PREFIX = "aladia_bench"


def _run_id() -> str:
    return time.strftime("%Y%m%d%H%M%S")


@dataclass
class BenchNames:
    """Connector names carry the run id: Connect keeps a connector's offsets (and a sink's consumer group)
    after the connector is deleted, and a new run must start from nothing."""

    run_id: str = field(default_factory=_run_id)
    source_db: str = f"{PREFIX}_src"
    topic_prefix: str = PREFIX
    slot: str = f"{PREFIX}_slot"
    publication: str = f"{PREFIX}_pub"
    native_slot: str = f"{PREFIX}_native_slot"
    native_db: str = f"{PREFIX}_native"
    jdbc_db: str = f"{PREFIX}_jdbc"

    @property
    def connector(self) -> str:
        return f"aladia-bench-{self.run_id}"

    @property
    def jdbc_connector(self) -> str:
        return f"aladia-bench-jdbc-{self.run_id}"

    # A second connector on the same source writes the pipeline's own format (JSON without embedded schemas).
    plain_prefix: str = f"{PREFIX}_plain"
    plain_slot: str = f"{PREFIX}_plain_slot"

    @property
    def plain_connector(self) -> str:
        return f"aladia-bench-plain-{self.run_id}"

    def warehouse(self, engine: str, phase: str) -> str:
        return f"{PREFIX}_wh_{engine}_{phase}"


def bench_settings(
    settings: Settings, names: BenchNames, warehouse_db: str | None = None, plain: bool = False
) -> Settings:
    """Settings for the bench source; `plain` selects the topics in the pipeline's default format."""
    postgres = settings.postgres.model_copy(
        update={"source_db": names.source_db, **({"warehouse_db": warehouse_db} if warehouse_db else {})}
    )
    cdc = settings.cdc.model_copy(
        update={
            "topic_prefix": names.plain_prefix if plain else names.topic_prefix,
            "slot_name": names.plain_slot if plain else names.slot,
            "publication": names.publication,
            "connector_name": names.plain_connector if plain else names.connector,
        }
    )
    return settings.model_copy(update={"postgres": postgres, "cdc": cdc})


def admin(settings: Settings):
    from aladia_etl.stack.connections import connect

    return connect(settings, "postgres", autocommit=True)


def recreate_database(settings: Settings, name: str) -> None:
    with admin(settings) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(settings: Settings, name: str) -> None:
    with admin(settings) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_slot(settings: Settings, slot: str, timeout: float = 30) -> None:
    from aladia_etl.cdc.service import drop_replication_slot

    drop_replication_slot(settings, slot, timeout)


def delete_topics(settings: Settings, prefix: str) -> None:
    from aladia_etl.stack.connections import admin as kafka_admin
    from aladia_etl.stack.connections import closing

    with closing(kafka_admin(settings)) as a:
        topics = [t for t in a.list_topics() if t.startswith(prefix + ".")]
        if topics:
            a.delete_topics(topics)
    deadline = time.monotonic() + 30
    with closing(kafka_admin(settings)) as a:
        while any(t.startswith(prefix + ".") for t in a.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.2)
