"""GET /metrics: the pipeline in the Prometheus exposition format, read at scrape time from the current snapshot
(a custom collector: no global counters to keep in step with the warehouse). The stream counters have the names and
labels a stream's own `--metrics-port` endpoint uses (`processing.metrics`); they come from the warehouse's batch
records here, so they survive the streams' processes.

Every metric name is listed in docs/OPERATIONS.md (Metrics)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aladia_etl.flows.health import INFRASTRUCTURE
from aladia_etl.processing.metrics import STREAM_LABELS, StreamCounts, counter_families, state_families
from aladia_etl.serve.observe import Snapshot
from aladia_etl.warehouse.figures import DURATION_BUCKETS

QUANTILES = (0.5, 0.99)


def _gauge(name: str, doc: str, labels: list[str] | None = None):
    from prometheus_client.core import GaugeMetricFamily

    return GaugeMetricFamily(name, doc, labels=labels or [])


class PipelineCollector:
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator:
        snap = self.snapshot()
        yield from self._components(snap)
        yield from self._cdc(snap)
        yield from self._lag(snap)
        yield from self._streams(snap)
        yield from self._warehouse(snap)

    def _components(self, snap: Snapshot) -> Iterator:
        up = _gauge("aladia_component_up", "1 when the infrastructure component answers its probe.", ["component"])
        healthy = _gauge("aladia_component_healthy", "1 unless the component makes /health answer 503.", ["component"])
        latency = _gauge("aladia_component_probe_seconds", "How long the component's probe took.", ["component"])
        for name, c in snap.components.items():
            if name in INFRASTRUCTURE:
                up.add_metric([name], 1 if c.state == "ok" else 0)
            healthy.add_metric([name], 1 if c.healthy else 0)
            if c.latency_ms is not None:
                latency.add_metric([name], c.latency_ms / 1000)
        overall = _gauge("aladia_healthy", "1 when GET /health answers 200.")
        overall.add_metric([], 1 if all(c.healthy for c in snap.components.values()) else 0)
        yield from (up, healthy, latency, overall)

    def _cdc(self, snap: Snapshot) -> Iterator:
        connector = snap.components.get("connector")
        info = connector.extra if connector is not None else {}
        if connector is not None and info.get("name"):
            labels = [info["name"]]
            running = _gauge("aladia_connector_running", "1 when the connector is RUNNING.", ["connector"])
            running.add_metric(labels, 1 if info.get("connector_state") == "RUNNING" else 0)
            failed = _gauge(
                "aladia_connector_failed", "1 when the connector or one of its tasks FAILED.", ["connector"]
            )
            failed.add_metric(labels, 1 if connector.state == "failed" else 0)
            tasks = _gauge("aladia_connector_task_running", "1 when the task is RUNNING.", ["connector", "task"])
            for i, state in enumerate(info.get("tasks", [])):
                tasks.add_metric([info["name"], str(i)], 1 if state == "RUNNING" else 0)
            yield from (running, failed, tasks)
        slot = snap.components.get("replication_slot")
        if slot is not None and slot.extra.get("present"):
            retained = _gauge(
                "aladia_replication_slot_retained_wal_bytes", "WAL the replication slot keeps on the source.", ["slot"]
            )
            retained.add_metric([slot.extra["slot"]], slot.extra.get("retained_wal_bytes") or 0)
            active = _gauge("aladia_replication_slot_active", "1 while a consumer reads the slot.", ["slot"])
            active.add_metric([slot.extra["slot"]], 1 if slot.extra.get("active") else 0)
            yield from (retained, active)

    def _lag(self, snap: Snapshot) -> Iterator:
        lag = _gauge(
            "aladia_consumer_lag_records",
            "Records in the CDC topic not applied to the warehouse yet by the engine (Kafka end offsets minus the "
            "warehouse's applied offsets).",
            ["engine", "topic"],
        )
        for row in snap.lag:
            lag.add_metric([row["engine"], row["topic"]], row["lag"])
        yield lag

    def _streams(self, snap: Snapshot) -> Iterator:
        published = [s for s in snap.streams if s.get("engine") and s.get("stream")]
        yield from state_families(
            (s["engine"], s["stream"], bool(s.get("alive")), bool(s.get("alive") and s.get("retrying")))
            for s in published
        )
        lag = _gauge(
            "aladia_stream_lag_records", "Records not applied yet, as the running stream last measured.", STREAM_LABELS
        )
        for s in published:
            if s.get("alive") and isinstance(s.get("lag"), int):
                lag.add_metric([s["engine"], s["stream"]], s["lag"])
        yield lag

    def _warehouse(self, snap: Snapshot) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

        wh = snap.warehouse
        up = _gauge("aladia_warehouse_figures_up", "1 when the warehouse's batch figures could be read.")
        up.add_metric([], 0 if wh is None else 1)
        yield up
        if wh is None:
            return
        yield from counter_families(
            StreamCounts(t.engine, t.stream, t.batches, t.records, t.rows, t.dead_letters) for t in wh.totals
        )
        tombstones = CounterMetricFamily(
            "aladia_stream_tombstones", "Tombstones skipped in applied batches.", labels=STREAM_LABELS
        )
        duration = HistogramMetricFamily(
            "aladia_stream_batch_duration_seconds", "Duration of applied batches.", labels=STREAM_LABELS
        )
        last = _gauge("aladia_stream_last_batch_timestamp_seconds", "When the last batch was applied.", STREAM_LABELS)
        for t in wh.totals:
            labels = [t.engine, t.stream]
            tombstones.add_metric(labels, t.tombstones)
            bounds = [(f"{b:g}", count) for b, count in zip(DURATION_BUCKETS, t.duration_buckets, strict=False)]
            duration.add_metric(labels, [*bounds, ("+Inf", t.duration_count)], t.duration_sum_s)
            if t.last_applied_at is not None:
                last.add_metric(labels, t.last_applied_at.timestamp())
        yield from (tombstones, duration, last)
        per_table = CounterMetricFamily(
            "aladia_stream_table_rows",
            "Warehouse rows from applied batches, per warehouse table of the pipeline.",
            labels=[*STREAM_LABELS, "table"],
        )
        for (engine, stream, table), count in sorted(wh.table_rows.items()):
            per_table.add_metric([engine, stream, table], count)
        yield per_table
        fresh = Metric(
            "aladia_stream_freshness_seconds",
            "Source commit to warehouse commit of the newest change in each batch, over the batches of the last "
            f"{snap.window_s} s (a summary: quantiles, _count and _sum cover that window).",
            "summary",
        )
        name = "aladia_stream_freshness_seconds"
        for (engine, stream), data in sorted(wh.freshness.items()):
            label_values = {"engine": engine, "stream": stream}
            for q, seconds in data["quantiles"].items():
                if seconds is not None:
                    fresh.add_sample(name, {**label_values, "quantile": f"{q:g}"}, seconds)
            fresh.add_sample(name + "_count", label_values, data["batches"])
            fresh.add_sample(name + "_sum", label_values, data.get("sum_s", 0.0))
        yield fresh
        dead = _gauge("aladia_warehouse_dead_letters", "Dead letters kept in the warehouse, by status.", ["status"])
        for status, count in sorted(wh.dead_letters.items()):
            dead.add_metric([status], count)
        yield dead
        gaps = _gauge("aladia_accepted_gaps", "Data-loss gaps accepted with --accept-data-loss.", ["engine"])
        skipped = _gauge("aladia_accepted_gap_records", "Kafka records those gaps skipped.", ["engine"])
        for engine, data in sorted(wh.gaps.items()):
            gaps.add_metric([engine], data["gaps"])
            skipped.add_metric([engine], data["records"])
        yield from (gaps, skipped)


def registry_for(snapshot: Callable[[], Snapshot]):
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(snapshot))
    return registry
