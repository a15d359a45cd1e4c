"""The one processing path, shared by both engines: a bundle of raw Kafka records → parse the Debezium envelope
→ validate and map to warehouse rows → split dead letters → stage (COPY) under the batch's token.

`process` is pure (no I/O). `stage` is what an engine runs where the data is — Spark executors (`mapInArrow`),
Beam DoFns: it processes the records in fixed-size chunks (bounded memory), publishes each chunk's dead letters to
the dead-letter topic, COPYs rows and dead letters into the staging tables and records what it saw in
`stg_stats`, all in one transaction. The engine's driver then applies the batch (`warehouse.loader.apply_batch`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from aladia_etl.core.errors import RecordError, ShapeChanged
from aladia_etl.processing.events import parse
from aladia_etl.processing.transform import PartlyMapped, transform_all
from aladia_etl.warehouse.mappers import Mappers, builtin_mappers, mappers_for
from aladia_etl.warehouse.staging import DeadLetter, StageStats, copy_rows, record_stats, worker_connection

Record = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value
Range = tuple[str, int, int, int]  # topic, partition, start, end (exclusive): read completely
CHUNK = 10_000
log = logging.getLogger("aladia.processing")


@dataclass
class Bundle:
    rows: dict[str, list[tuple]] = field(default_factory=dict)  # sink name → its rows
    dead: list[DeadLetter] = field(default_factory=list)
    stats: StageStats = field(default_factory=StageStats)
    # Records that raised something other than RecordError (a bug): dead letters all the same, counted here.
    unexpected: int = 0


def process(records: Iterable[Record], mappers: Mappers | None = None) -> Bundle:
    """Every record gets one fate: a warehouse row, a tombstone (skipped), or a dead letter with its reason.
    Whatever a record holds, it never raises: parsing and mapping check every value against what the warehouse
    stores (RecordError, with the reason); anything else a record provokes is a bug, and that record, and only it,
    becomes a dead letter with the reason "unexpected <type>: <message>"."""
    mappers = mappers or builtin_mappers()
    bundle = Bundle(rows={name: [] for name in mappers.sinks})
    rows, dead, stats = bundle.rows, bundle.dead, bundle.stats
    # The hot loop (~100k records/s per core): counters in locals, stats filled once at the end.
    ends: dict[tuple[str, int], int] = {}
    count = tombstones = 0
    ts_min, ts_max = None, 0
    for topic, partition, offset, key, value in records:
        count += 1
        tp = (topic, partition)
        if offset >= ends.get(tp, 0):
            ends[tp] = offset + 1
        try:
            event = parse(topic, partition, offset, value)
            if event is None:
                tombstones += 1
                continue
            mapped = transform_all(event, mappers)
        except ShapeChanged as exc:  # the batch will not be applied: the stream re-plans the table first
            stats.saw_drift(exc.sink, exc.added, exc.missing, exc.misfit)
            continue
        except PartlyMapped as exc:
            dead.append(DeadLetter(topic, partition, offset, exc.reason, key, value))
            for sink, row in exc.rows:  # the sinks that took it keep it (a mirror stays exact)
                rows[sink].append(row)
            continue
        except RecordError as exc:
            dead.append(DeadLetter(topic, partition, offset, exc.reason, key, value))
            continue
        except Exception as exc:  # the safety net: one record must never stop the stream
            bundle.unexpected += 1
            if bundle.unexpected == 1:
                log.warning("record %s[%s]@%s: unexpected error", topic, partition, offset, exc_info=True)
            dead.append(DeadLetter(topic, partition, offset, f"unexpected {type(exc).__name__}: {exc}", key, value))
            continue
        for sink, row in mapped:
            rows[sink].append(row)
        ts = event.ts_ms
        if ts > ts_max:
            ts_max = ts
        if ts_min is None or ts < ts_min:
            ts_min = ts
    stats.records, stats.tombstones, stats.dead_letters = count, tombstones, len(dead)
    for (topic, partition), end in ends.items():
        stats.saw_offset(topic, partition, end)
    if ts_min is not None:
        stats.min_source_ts_ms, stats.max_source_ts_ms = ts_min, ts_max
    for table, table_rows in rows.items():
        if table_rows:
            stats.rows[table] = len(table_rows)
    return bundle


def chunks(records: Iterable[Record], size: int = CHUNK) -> Iterator[list[Record]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def stage(
    conninfo: dict[str, Any],
    token: str,
    records: Iterable[Record],
    dlq: dict[str, str] | None = None,
    covered: Iterable[Range] = (),
    chunk_size: int = CHUNK,
    sinks: list[dict[str, Any]] | None = None,
) -> StageStats:
    """Process and stage `records` under `token` in one warehouse transaction; returns what was staged.
    `covered` names offset ranges the caller read completely (their end is the next offset even when the last
    records were compaction gaps or transaction markers). `dlq` is {"kafka": `KafkaSettings.client()`, "topic"}
    (or {"bootstrap_servers", "topic"}). `sinks`: the
    pipeline's sinks as plain data (`CompiledPipeline.spec()`); None: the built-in pipeline."""
    mappers = mappers_for(sinks)
    total = StageStats()
    for topic, partition, _start, end in covered:
        total.saw_offset(topic, partition, end)
    conn = worker_connection(conninfo)
    with conn.transaction(), conn.cursor() as cur:
        for chunk in chunks(records, chunk_size):
            bundle = process(chunk, mappers)
            if bundle.dead and dlq:
                from aladia_etl.bus.dlq import publish

                publish(dlq.get("kafka") or dlq["bootstrap_servers"], dlq["topic"], bundle.dead)
            copy_rows(cur, token, bundle.rows, bundle.dead, mappers.sinks)
            total.merge(bundle.stats)
        if total.records or total.offsets:
            record_stats(cur, token, total)
    return total
