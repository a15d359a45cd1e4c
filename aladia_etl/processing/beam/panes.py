"""The streaming pipeline's two warehouse steps, each runnable in any worker process.

`StageChunk` (in parallel, on several workers): a chunk of records read from one partition goes through the one
processing path (`processing.bundle.stage`) into the staging tables under the chunk's deterministic token
(`warehouse.chunks.chunk_token`: a retried bundle clears and re-stages the same token). It emits only the chunk's
descriptor, never its records.

`ApplyChunks` (one pane of descriptors at a time): registers the descriptors that reached it and applies, in one
warehouse transaction, every registered chunk that continues the warehouse's offsets (`warehouse.chunks`). Panes
may arrive out of order or on two threads at once: the warehouse orders them, nothing is kept in memory.
"""

from __future__ import annotations

import time
from typing import Any

import apache_beam as beam

from aladia_etl.processing.beam.control import RunControl, RunSpec, worker_name


class StageChunk(beam.DoFn):
    """chunk {"topic", "partition", "start", "end", "records"} → its descriptor, once staged."""

    def __init__(self, spec: RunSpec, dlq: dict | None, sinks: list[dict] | None = None) -> None:
        self.spec = spec
        self.dlq = dlq
        self.sinks = sinks  # the pipeline's sinks as plain data (None: the built-in pipeline)

    def setup(self) -> None:
        self.control = RunControl(self.spec)
        self.outage = self.control.outage("the warehouse (staging)", "staging")
        self.worker = worker_name()

    def process(self, chunk: dict[str, Any]):
        from aladia_etl.processing.bundle import stage
        from aladia_etl.warehouse import loader
        from aladia_etl.warehouse.chunks import chunk_token
        from aladia_etl.warehouse.staging import worker_connection

        spec = self.spec
        stage_started_ms = round(time.time() * 1000)
        topic, partition, start, end = chunk["topic"], chunk["partition"], chunk["start"], chunk["end"]
        token = chunk_token(spec["engine"], spec["stream"], spec["run_id"], topic, partition, start, end)

        def step():
            loader.clear_stage(worker_connection(spec["conninfo"]), token)  # what an earlier attempt staged
            return stage(
                spec["conninfo"],
                token,
                chunk["records"],
                self.dlq,
                covered=[(topic, partition, start, end)],
                sinks=self.sinks,
            )

        stats = self.control.retry(step, self.outage)
        if stats is None:  # the run is over: nothing more is applied
            return
        yield {
            "token": token,
            "topic": topic,
            "partition": partition,
            "start": start,
            "end": end,
            "records": stats.records,
            "worker": self.worker,
            "stage_started_ms": stage_started_ms,
        }


class ApplyChunks(beam.DoFn):
    """(key, [descriptor, …]) → every staged chunk that continues the warehouse's offsets, applied in one
    transaction."""

    def __init__(self, spec: RunSpec, sinks: list[dict] | None = None) -> None:
        self.spec = spec
        self.sinks = sinks

    def setup(self) -> None:
        self.control = RunControl(self.spec)
        self.outage = self.control.outage("the warehouse (applying)", "apply")

    def process(self, keyed):
        from aladia_etl.warehouse import chunks
        from aladia_etl.warehouse.sinks import Sink
        from aladia_etl.warehouse.staging import worker_connection

        _, descriptors = keyed
        spec = self.spec
        found = [chunks.Chunk(**d) for d in descriptors]
        sinks = None if self.sinks is None else tuple(Sink.from_dict(s) for s in self.sinks)

        def step():
            conn = worker_connection(spec["conninfo"])
            chunks.register(conn, spec["engine"], spec["stream"], spec["run_id"], found)
            return chunks.apply_ready(conn, spec["engine"], spec["stream"], spec["run_id"], sinks)

        self.control.retry(step, self.outage)
