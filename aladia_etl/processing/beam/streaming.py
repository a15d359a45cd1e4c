"""The scale-out path for Beam: an unbounded pipeline with `ReadFromKafka` for a portable runner (Flink, Spark)
or Dataflow. It is not run locally — `ReadFromKafka` is a cross-language transform that needs Beam's Java
expansion service at construction and a runner with a Java SDK harness at run time — but it is built from the same
transforms as the local micro-batch engine, and the test suite builds and runs its graph with a stand-in source.

    python -m aladia_etl.processing.beam.streaming --runner FlinkRunner --flink_master host:8081 ...

Semantics on such a runner: `ReadFromKafka` commits offsets when bundles are finalised; each bundle stages its rows
and applies them in one warehouse transaction under its own batch id. A retried bundle is applied again, and the
LSN guard makes that a no-op, so the effect stays exactly-once.
"""

from __future__ import annotations

import time
import uuid

import apache_beam as beam
from apache_beam.transforms.window import FixedWindows

from aladia_etl.cdc.connector import cdc_topics
from aladia_etl.processing.beam.transforms import StageRows, ToWarehouseRows
from aladia_etl.processing.staging import StageStats, stage_rows
from aladia_etl.settings import Settings

ENGINE = "beam-streaming"


def kafka_source(settings: Settings, group_id: str = "aladia-beam-streaming"):
    from apache_beam.io.kafka import ReadFromKafka

    return ReadFromKafka(
        consumer_config={
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
        },
        topics=cdc_topics(settings),
        with_metadata=True,
        commit_offset_in_finalize=True,
    )


def from_kafka_row(row) -> tuple:
    """ReadFromKafka(with_metadata=True) rows → the (topic, partition, offset, key, value) records of the model."""
    return (row.topic, row.partition, row.offset, row.key, row.value)


class ApplyBundle(StageRows):
    """Stage a bundle's rows and apply them in one warehouse transaction (LSN-guarded, so retries are no-ops)."""

    def __init__(self, conninfo: dict, stream_id: str) -> None:
        super().__init__(conninfo, token="")
        self.stream_id = stream_id

    def write(self, buffer: dict[str, list[tuple]]) -> None:
        import psycopg

        from aladia_etl.warehouse import loader

        batch_id = time.time_ns() // 1000 + uuid.uuid4().int % 1000
        token = loader.batch_token(ENGINE, self.stream_id, batch_id)
        stats = StageStats(records=sum(len(r) for r in buffer.values()))
        for table, rows in buffer.items():
            stats.rows[table] = len(rows)
        stage_rows(self.conninfo, token, buffer, [])
        with psycopg.connect(**self.conninfo, autocommit=True) as conn:
            loader.apply_batch(conn, ENGINE, self.stream_id, batch_id, stats)


class KeepDeadLetters(beam.DoFn):
    """Publish a bundle's dead letters to the DLQ topic and insert them into the dead-letter table."""

    def __init__(self, conninfo: dict, dlq: dict) -> None:
        self.conninfo = conninfo
        self.dlq = dlq

    def start_bundle(self) -> None:
        self.buffer = []

    def process(self, dead_letter):
        self.buffer.append(dead_letter)

    def finish_bundle(self) -> None:
        if not self.buffer:
            return
        import psycopg

        from aladia_etl.bus.dlq import publish

        publish(self.dlq["bootstrap_servers"], self.dlq["topic"], self.buffer)
        with psycopg.connect(**self.conninfo) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (kafka_topic, kafka_partition, kafka_offset, engine, reason, raw_key, "
                "raw_value) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(d.topic, d.partition, d.offset, ENGINE, d.reason, d.key, d.value) for d in self.buffer],
            )


def build_streaming_pipeline(
    pipeline: beam.Pipeline,
    settings: Settings,
    source=None,
    window_s: float = 1.0,
    stream_id: str = "default",
    dlq_topic: str = "aladia.dlq",
):
    """The unbounded graph. `source` replaces `ReadFromKafka` (it must yield record tuples) — used by tests.
    The warehouse schema is created here, at construction, on the driver."""
    from aladia_etl.warehouse import loader
    from aladia_etl.warehouse.schema import ensure_schema

    with loader.connect(settings) as conn, conn.transaction():
        ensure_schema(conn)
    conninfo = settings.postgres.conninfo(settings.postgres.warehouse_db)
    if source is None:
        records = pipeline | "Read CDC topics" >> kafka_source(settings) | "To records" >> beam.Map(from_kafka_row)
    else:
        records = pipeline | "Read CDC topics" >> source
    windowed = records | "Micro-batch windows" >> beam.WindowInto(FixedWindows(window_s))
    rows, dead = windowed | "To warehouse rows" >> ToWarehouseRows()
    rows | "Apply to the warehouse" >> beam.ParDo(ApplyBundle(conninfo, stream_id))
    dlq = {"bootstrap_servers": settings.kafka.bootstrap_servers, "topic": dlq_topic}
    dead | "Dead letters" >> beam.ParDo(KeepDeadLetters(conninfo, dlq))
    return pipeline


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - needs a portable runner and a Java harness
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from aladia_etl.settings import load_settings

    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as pipeline:
        build_streaming_pipeline(pipeline, load_settings())


if __name__ == "__main__":  # pragma: no cover
    main()
