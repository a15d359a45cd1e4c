"""A running stream's own /metrics (`aladia stream --metrics-port N`): its StreamProgress at scrape time, with the
names and labels the server uses for the same figures."""

from __future__ import annotations

import socket

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from aladia_etl.core.errors import ExitCode, PortInUse
from aladia_etl.processing.metrics import MetricsServer
from aladia_etl.processing.model import StreamProgress
from aladia_etl.warehouse.loader import ApplyResult
from aladia_etl.warehouse.staging import StageStats


def progress() -> StreamProgress:
    p = StreamProgress("beam", "nightly", state="running", lag=17)
    stats = StageStats()
    stats.records, stats.dead_letters = 120, 2
    stats.rows = {"orders": 100}
    p.record_batch(ApplyResult(applied=True, stats=stats), 0.5, batch_id=0)
    p.record_batch(ApplyResult(applied=False, stats=StageStats()), 0.1, batch_id=0)
    return p


def scrape(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("aladia_"):
                assert s.labels == {"engine": "beam", "stream": "nightly"}, s
                out[s.name] = s.value
    return out


def test_the_stream_serves_its_figures_at_scrape_time():
    p = progress()
    server = MetricsServer(p, 0)
    try:
        found = scrape(server.port)
        assert found["aladia_stream_batches_total"] == 1
        assert found["aladia_stream_skipped_batches_total"] == 1
        assert found["aladia_stream_records_total"] == 120
        assert found["aladia_stream_rows_total"] == 100
        assert found["aladia_stream_dead_letters_total"] == 2
        assert found["aladia_stream_lag_records"] == 17
        assert found["aladia_stream_up"] == 1 and found["aladia_stream_retrying"] == 0
        assert found["aladia_stream_last_batch_duration_seconds"] == 0.1
        p.note_retry("the warehouse unreachable, retrying in 2 s")
        p.lag = 30
        found = scrape(server.port)
        assert found["aladia_stream_retrying"] == 1 and found["aladia_stream_lag_records"] == 30
    finally:
        server.close()


def test_a_metrics_port_in_use_is_refused_before_the_stream_starts():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port}"):
            MetricsServer(progress(), port)


@pytest.mark.parametrize("port", ["0", "70000", "x"])
def test_a_bad_metrics_port_is_a_usage_error(port):
    from tests.cli import invoke

    result = invoke(["stream", "--engine", "beam", "--metrics-port", port])
    assert result.code == ExitCode.USAGE and "--metrics-port" in result.stderr
