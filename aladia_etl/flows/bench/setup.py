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


# The names of the bench's streams (each on a warehouse of its own)
BENCH_STREAMS = ("bench-drain", "bench-startup", "bench-fresh", "bench-sustained")

# The bench's connectors on its one source database, one per topic format it measures:
# variant → (topic prefix, slot, JSON with embedded schemas, partitions per topic)
VARIANTS: dict[str, tuple[str, str, bool, int]] = {
    # what Debezium's JDBC sink needs: every contender drains these topics for the comparison
    "schemas": (PREFIX, f"{PREFIX}_slot", True, 1),
    # the pipeline's own format (JSON without schemas), one partition per topic
    "plain": (f"{PREFIX}_plain", f"{PREFIX}_plain_slot", False, 1),
    # the same with four partitions per topic
    "plain4": (f"{PREFIX}_p4", f"{PREFIX}_p4_slot", False, 4),
}


@dataclass
class BenchNames:
    """Connector names carry the run id: Connect keeps a connector's offsets (and a sink's consumer group)
    after the connector is deleted, and a new run must start from nothing."""

    run_id: str = field(default_factory=_run_id)
    source_db: str = f"{PREFIX}_src"
    publication: str = f"{PREFIX}_pub"
    native_slot: str = f"{PREFIX}_native_slot"
    native_db: str = f"{PREFIX}_native"
    jdbc_db: str = f"{PREFIX}_jdbc"

    def connector(self, variant: str) -> str:
        return f"aladia-bench-{variant}-{self.run_id}"

    @property
    def jdbc_connector(self) -> str:
        return f"aladia-bench-jdbc-{self.run_id}"

    def warehouse(self, engine: str, phase: str) -> str:
        return f"{PREFIX}_wh_{engine}_{phase}"


def bench_settings(
    settings: Settings, names: BenchNames, variant: str = "plain", warehouse_db: str | None = None
) -> Settings:
    """Settings for the bench source and the topics of one variant (see VARIANTS)."""
    prefix, slot, _, partitions = VARIANTS[variant]
    postgres = settings.postgres.model_copy(
        update={"source_db": names.source_db, **({"warehouse_db": warehouse_db} if warehouse_db else {})}
    )
    cdc = settings.cdc.model_copy(
        update={
            "topic_prefix": prefix,
            "slot_name": slot,
            "publication": names.publication,
            "connector_name": names.connector(variant),
            "topic_partitions": partitions,
        }
    )
    return settings.model_copy(update={"postgres": postgres, "cdc": cdc})


def bench_env(settings: Settings) -> dict[str, str]:
    """The environment that makes an `aladia` command use exactly these settings."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADIA_")}
    pg, cdc = settings.postgres, settings.cdc
    env.update(
        {
            "ALADIA_DATA_DIR": str(settings.data_dir),
            "ALADIA_CACHE_DIR": str(settings.artifacts_dir),
            "ALADIA_POSTGRES__HOST": pg.host,
            "ALADIA_POSTGRES__PORT": str(pg.port),
            "ALADIA_POSTGRES__USER": pg.user,
            "ALADIA_POSTGRES__PASSWORD": pg.password.get_secret_value(),
            "ALADIA_POSTGRES__SOURCE_DB": pg.source_db,
            "ALADIA_POSTGRES__WAREHOUSE_DB": pg.warehouse_db,
            "ALADIA_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "ALADIA_CONNECT__URL": settings.connect.url,
            "ALADIA_CDC__TOPIC_PREFIX": cdc.topic_prefix,
            "ALADIA_CDC__SLOT_NAME": cdc.slot_name,
            "ALADIA_CDC__PUBLICATION": cdc.publication,
            "ALADIA_CDC__CONNECTOR_NAME": cdc.connector_name,
        }
    )
    env.update(security_env(settings))
    if settings.beam.prism_path is not None:
        env["ALADIA_BEAM__PRISM_PATH"] = str(settings.beam.prism_path)
    return env


def security_env(settings: Settings) -> dict[str, str]:
    """How these settings reach secured services, as environment variables (secrets as their values: a child
    process's environment is readable by its user only)."""
    groups = {
        "ALADIA_POSTGRES__": (settings.postgres, ("sslmode", "sslrootcert", "sslcert", "sslkey")),
        "ALADIA_KAFKA__SECURITY__": (settings.kafka.security, tuple(type(settings.kafka.security).model_fields)),
        "ALADIA_CONNECT__": (settings.connect, ("username", "password", "ca_file")),
    }
    env = {}
    for prefix, (group, fields) in groups.items():
        for name in fields:
            value = getattr(group, name)
            if value is None or (name.endswith("_file") and name != "ca_file" and name.removesuffix("_file") in fields):
                continue  # a secret's file was read into the secret itself
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            env[prefix + name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


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


def forget_checkpoints(targets: list[Settings]) -> None:
    """Delete the Spark checkpoints of the bench's own streams: exactly the names its streams had on the warehouses
    it created (a user's stream is never touched, whatever its name)."""
    from aladia_etl.processing.checkpoints import checkpoint_path, forget

    for target in targets:
        for stream in BENCH_STREAMS:
            forget(checkpoint_path(target, stream))
