"""Prometheus metrics of a stream. `aladia stream --metrics-port N` serves a running stream's own figures (from its
StreamProgress) at http://127.0.0.1:N/metrics; `aladia serve` exposes the same stream counters, with the same names
and labels, from the warehouse's batch records (they outlive the stream's process). Values are read when
Prometheus scrapes (a collector, no global counters to keep in step).

Every metric name is listed in docs/OPERATIONS.md (Metrics)."""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aladia_etl.core.errors import PortInUse, UsageError
from aladia_etl.processing.model import StreamProgress

STREAM_LABELS = ["engine", "stream"]


@dataclass
class StreamCounts:
    engine: str
    stream: str
    batches: int
    records: int
    rows: int
    dead_letters: int


def counter_families(counts: Iterable[StreamCounts]) -> list:
    """aladia_stream_{batches,records,rows,dead_letters}_total: what the server and the stream both expose."""
    from prometheus_client.core import CounterMetricFamily

    families = {
        key: CounterMetricFamily(f"aladia_stream_{key}", text, labels=STREAM_LABELS)
        for key, text in (
            ("batches", "Micro-batches applied to the warehouse."),
            ("records", "Kafka records in applied batches."),
            ("rows", "Warehouse rows from applied batches."),
            ("dead_letters", "Records that became dead letters in applied batches."),
        )
    }
    for c in counts:
        for key, family in families.items():
            family.add_metric([c.engine, c.stream], getattr(c, key))
    return list(families.values())


def state_families(rows: Iterable[tuple[str, str, bool, bool]]) -> list:
    """aladia_stream_up and aladia_stream_retrying per (engine, stream, running, retrying)."""
    from prometheus_client.core import GaugeMetricFamily

    up = GaugeMetricFamily("aladia_stream_up", "1 while the stream's process runs.", labels=STREAM_LABELS)
    retrying = GaugeMetricFamily(
        "aladia_stream_retrying", "1 while the stream retries a service's outage.", labels=STREAM_LABELS
    )
    for engine, stream, running, is_retrying in rows:
        up.add_metric([engine, stream], 1 if running else 0)
        retrying.add_metric([engine, stream], 1 if is_retrying else 0)
    return [up, retrying]


class StreamCollector:
    """A running stream's own figures."""

    def __init__(self, progress: StreamProgress) -> None:
        self.progress = progress

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        p = self.progress
        labels = [p.engine, p.stream]
        yield from counter_families([StreamCounts(p.engine, p.stream, p.batches, p.records, p.rows, p.dead_letters)])
        running = p.state in ("starting", "running", "retrying", "stopping")
        yield from state_families([(p.engine, p.stream, running, bool(p.retrying))])
        skipped = CounterMetricFamily(
            "aladia_stream_skipped_batches", "Replayed batches found already applied.", labels=STREAM_LABELS
        )
        skipped.add_metric(labels, p.skipped)
        yield skipped
        busy = CounterMetricFamily("aladia_stream_busy_seconds", "Time spent inside batches.", labels=STREAM_LABELS)
        busy.add_metric(labels, p.busy_s)
        yield busy
        if p.lag is not None:
            lag = GaugeMetricFamily(
                "aladia_stream_lag_records",
                "Records in the CDC topics not applied yet (all topics), as the stream last measured.",
                labels=STREAM_LABELS,
            )
            lag.add_metric(labels, p.lag)
            yield lag
        changes = CounterMetricFamily(
            "aladia_schema_changes",
            "Columns added to or dropped from mirrored tables, by how the pipeline's policy handled them.",
            labels=[*STREAM_LABELS, "table", "kind", "outcome"],
        )
        counted = Counter((c["table"], c["kind"], c["outcome"]) for c in p.schema_changes)
        for (table, kind, outcome), count in sorted(counted.items()):
            changes.add_metric([*labels, table, kind, outcome], count)
        yield changes
        if p.last_batch_s is not None:
            last = GaugeMetricFamily(
                "aladia_stream_last_batch_duration_seconds", "Duration of the last batch.", labels=STREAM_LABELS
            )
            last.add_metric(labels, p.last_batch_s)
            yield last


class MetricsServer:
    """A tiny HTTP server (prometheus-client's) for one stream's /metrics, in a daemon thread."""

    def __init__(self, progress: StreamProgress, port: int, host: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StreamCollector(progress))
        try:
            self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise _listen_error(exc, host, port, "--metrics-port") from None
        self.port = self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _listen_error(exc: OSError, host: str, port: int, option: str) -> Exception:
    if exc.errno == errno.EADDRINUSE:
        return PortInUse(
            f"cannot serve metrics: port {port} on {host} is already in use",
            f"stop the process that holds it, or choose another port with {option}",
        )
    return UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", f"choose another {option}")
