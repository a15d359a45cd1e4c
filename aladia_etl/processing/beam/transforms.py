"""Beam transforms over the shared event model and transform — the same code the Spark engine runs.

parse → validate/cleanse → dead-letter split → keyed latest-LSN dedup → warehouse rows (staged).
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from aladia_etl.processing.events import EventError, parse
from aladia_etl.processing.staging import DeadLetter, stage_rows
from aladia_etl.processing.transform import COLUMNS, transform

NAMESPACE = "aladia"
DEAD = "dead"

# kafka-python verifies record CRCs in pure Python (about 10k records/s on this machine, 68k/s without);
# the broker has validated them on produce and TCP checksums the loopback hop.
KAFKA_READ_CONFIG = {
    "check_crcs": False,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
}


class ReadOffsetRange(beam.DoFn):
    """(topic, partition, start, end) → the Kafka records in [start, end), read with kafka-python."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.records = Metrics.counter(NAMESPACE, "records")

    def setup(self) -> None:
        from kafka import KafkaConsumer

        from aladia_etl.health.checks import quiet_kafka_logging

        quiet_kafka_logging()
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="aladia-beam-reader",
            **KAFKA_READ_CONFIG,
        )

    def process(self, offset_range):
        from kafka import TopicPartition

        topic, partition, start, end = offset_range
        tp = TopicPartition(topic, partition)
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        while self.consumer.position(tp) < end:
            for records in self.consumer.poll(timeout_ms=1000, max_records=50_000).values():
                for r in records:
                    if r.offset >= end:
                        break
                    self.records.inc()
                    yield (r.topic, r.partition, r.offset, r.key, r.value)

    def teardown(self) -> None:
        self.consumer.close()


class ParseAndValidate(beam.DoFn):
    """Record → (table, warehouse row); failures to the `dead` output; tombstones dropped."""

    def __init__(self) -> None:
        self.tombstones = Metrics.counter(NAMESPACE, "tombstones")
        self.dead = Metrics.counter(NAMESPACE, "dead_letters")
        self.max_ts = Metrics.distribution(NAMESPACE, "source_ts_ms")

    def process(self, record):
        topic, partition, offset, key, value = record
        try:
            event = parse(topic, partition, offset, value)
            if event is None:
                self.tombstones.inc()
                return
            table, row = transform(event)
        except EventError as exc:
            self.dead.inc()
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter(topic, partition, offset, exc.reason, key, value))
            return
        self.max_ts.update(event.ts_ms)
        yield table, row


_LSN = {table: len(COLUMNS[table]) + 1 for table in COLUMNS}  # position of source_lsn in a row
_DELETED = {table: len(COLUMNS[table]) for table in COLUMNS}


def key_by_row(item: tuple[str, tuple]) -> tuple[tuple[str, Any], tuple[str, tuple]]:
    table, row = item
    return (table, row[0]), item


def latest(items) -> tuple[str, tuple]:
    """The newest change of one key: highest LSN (a delete wins a tie)."""
    return max(items, key=lambda item: (item[1][_LSN[item[0]]], item[1][_DELETED[item[0]]]))


class StageRows(beam.DoFn):
    """Buffers a bundle's rows and COPYs them into the batch's staging tables (the shared `write_stage`)."""

    def __init__(self, conninfo: dict, token: str) -> None:
        self.conninfo = conninfo
        self.token = token
        self.staged = {table: Metrics.counter(NAMESPACE, f"rows_{table}") for table in COLUMNS}

    def start_bundle(self) -> None:
        self.buffer: dict[str, list[tuple]] = {table: [] for table in COLUMNS}

    def process(self, item):
        table, row = item
        self.buffer[table].append(row)

    def finish_bundle(self) -> None:
        if any(self.buffer.values()):
            self.write(self.buffer)
            for table, rows in self.buffer.items():
                self.staged[table].inc(len(rows))

    def write(self, buffer: dict[str, list[tuple]]) -> None:
        stage_rows(self.conninfo, self.token, buffer, [])


class StageDeadLetters(beam.DoFn):
    """Publishes dead letters to the DLQ topic and stages them for the dead-letter table."""

    def __init__(self, conninfo: dict, token: str, dlq: dict | None) -> None:
        self.conninfo = conninfo
        self.token = token
        self.dlq = dlq

    def start_bundle(self) -> None:
        self.buffer: list[DeadLetter] = []

    def process(self, dead_letter):
        self.buffer.append(dead_letter)

    def finish_bundle(self) -> None:
        if not self.buffer:
            return
        if self.dlq:
            from aladia_etl.bus.dlq import publish

            publish(self.dlq["bootstrap_servers"], self.dlq["topic"], self.buffer)
        stage_rows(self.conninfo, self.token, {}, self.buffer)


class ToWarehouseRows(beam.PTransform):
    """Records → deduplicated (table, row) pairs plus a dead-letter output; shared by batch and streaming graphs."""

    def expand(self, records):
        parsed = records | "Parse and validate" >> beam.ParDo(ParseAndValidate()).with_outputs(DEAD, main="rows")
        rows = (
            parsed.rows
            | "Key by table and id" >> beam.Map(key_by_row)
            | "Latest LSN per key" >> beam.CombinePerKey(latest)
            | "Drop keys" >> beam.Values()
        )
        return rows, parsed[DEAD]
