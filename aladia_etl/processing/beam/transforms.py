"""The Beam side of the one processing path: a DoFn that reads an offset range through `bus.reader` and hands the
records to the shared `processing.bundle.stage` — the same function the Spark executors run."""

from __future__ import annotations

import itertools

import apache_beam as beam

from aladia_etl.bus.reader import range_consumer, read_range
from aladia_etl.processing.bundle import stage


class ReadAndStage(beam.DoFn):
    """(topic, partition, start, end) → the records of that range, processed and staged under the batch token."""

    def __init__(
        self, kafka_config: dict | str, conninfo: dict, token: str, dlq: dict | None, sinks: list[dict] | None = None
    ) -> None:
        self.kafka_config = kafka_config
        self.conninfo = conninfo
        self.token = token
        self.dlq = dlq
        self.sinks = sinks

    def setup(self) -> None:
        self.consumer = range_consumer(self.kafka_config, client_id="aladia-beam-reader")

    def process(self, offset_range):
        topic, partition, start, end = offset_range
        records = itertools.chain.from_iterable(read_range(self.consumer, topic, partition, start, end))
        stats = stage(self.conninfo, self.token, records, self.dlq, covered=[offset_range], sinks=self.sinks)
        yield stats.records

    def teardown(self) -> None:
        self.consumer.close()
