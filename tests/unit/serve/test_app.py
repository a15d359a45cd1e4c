"""The health API with FastAPI's TestClient: probes faked at the transport level (closed ports, which refuse at
once) or answering what the test says; /metrics parsed with prometheus-client's own parser; the OpenAPI
description."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aladia_etl.flows.health import COMPONENTS
from aladia_etl.serve.app import create_app
from aladia_etl.serve.observe import Observer
from tests.unit.serve import fakes


@pytest.fixture
def world():
    return fakes.World()


@pytest.fixture
def client(tmp_path, world):
    return TestClient(create_app(fakes.observer(fakes.settings(tmp_path), world)))


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(found: dict, name: str, **labels) -> float:
    matching = [s.value for s in found[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, (name, labels, found.get(name))
    return matching[0]


def test_closed_ports_make_every_infrastructure_component_down_and_the_answer_503(tmp_path):
    app = create_app(Observer(fakes.settings(tmp_path)))
    started = time.monotonic()
    answer = TestClient(app).get("/health")
    assert time.monotonic() - started < 5  # each probe has its deadline (1 s here): nothing hangs
    assert answer.status_code == 503
    body = answer.json()
    assert body["state"] == "unhealthy" and body["healthy"] is False
    assert list(body["components"]) == list(COMPONENTS)
    for name in ("source_db", "warehouse_db", "kafka", "connect"):
        component = body["components"][name]
        assert component["state"] == "down" and component["healthy"] is False
        assert component["address"] and component["latency_ms"] is not None and component["checked_at"]
    assert body["components"]["source_db"]["address"].endswith("/sourcedb")
    assert body["components"]["warehouse_db"]["address"].endswith("/warehouse")
    assert body["components"]["stream"]["state"] == "absent"  # no stream running is not unhealthy
    assert sorted(body["unhealthy"]) == ["connect", "kafka", "source_db", "warehouse_db"]
    one = TestClient(app).get("/health/connect")
    assert one.status_code == 503 and one.json()["state"] == "down"


def test_everything_up_is_200(client):
    answer = client.get("/health")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["state"] == "ok" and body["unhealthy"] == []
    assert {name: c["state"] for name, c in body["components"].items()} == dict.fromkeys(COMPONENTS, "ok")
    for name in COMPONENTS:
        assert client.get(f"/health/{name}").status_code == 200


@pytest.mark.parametrize("name", ["source_db", "warehouse_db", "kafka", "connect"])
def test_an_infrastructure_component_down_is_503_naming_it(client, world, name):
    world.down.add(name)
    answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json()["unhealthy"] == [name]
    assert client.get(f"/health/{name}").status_code == 503
    others = [n for n in COMPONENTS if n != name]
    assert all(client.get(f"/health/{n}").status_code == 200 for n in others)


@pytest.mark.parametrize(
    ("connector", "state", "code"),
    [
        ({"name": "c", "state": "FAILED", "tasks": ["RUNNING"]}, "failed", 503),
        ({"name": "c", "state": "RUNNING", "tasks": ["FAILED"]}, "failed", 503),
        ({"name": "c", "state": "PAUSED", "tasks": ["PAUSED"]}, "warning", 200),
        (None, "absent", 200),
    ],
)
def test_connector_states(client, world, connector, state, code):
    world.connector = connector
    answer = client.get("/health")
    assert answer.status_code == code
    assert answer.json()["components"]["connector"]["state"] == state


@pytest.mark.parametrize(
    ("stream", "state", "code"),
    [
        (
            fakes.published_stream(state="retrying", retrying="the warehouse unreachable, retrying in 4 s"),
            "retrying",
            503,
        ),
        (fakes.published_stream(state="failed"), "failing", 503),
        (fakes.published_stream(lag=100_001), "lagging", 503),
        (fakes.published_stream(lag=100_000), "ok", 200),
        (fakes.published_stream(state="gone", alive=False, lag=10**9), "absent", 200),
    ],
)
def test_stream_states(client, world, stream, state, code):
    world.streams = [stream]
    answer = client.get("/health/stream")
    assert answer.status_code == code
    assert answer.json()["state"] == state
    assert client.get("/health").status_code == code


def test_retained_wal_above_the_setting_is_a_warning_not_a_503(client, world):
    world.slot = {**world.slot, "retained_wal_bytes": 5 * 1024**3}
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json()["state"] == "warning" and answer.json()["warnings"] == ["replication_slot"]
    assert "ALADIA_CDC__WAL_WARN_BYTES" in answer.json()["components"]["replication_slot"]["detail"]


def test_unknown_component_is_404_with_the_list(client):
    answer = client.get("/health/zookeeper")
    assert answer.status_code == 404
    assert answer.json()["components"] == list(COMPONENTS)


def test_a_hanging_probe_is_reported_down_at_its_deadline_and_not_started_again(tmp_path, world):
    from aladia_etl.flows.health import Prober

    calls = []
    settings = fakes.settings(tmp_path, probe_timeout_s=0.3)
    probes = world.probes(settings)
    kafka = probes["kafka"]
    probes["kafka"] = lambda s, t: calls.append(1) or time.sleep(1.5) or kafka(s, t)
    observer = fakes.observer(settings, world)
    observer.prober = Prober(settings, probes)
    client = TestClient(create_app(observer))
    for _ in range(3):
        started = time.monotonic()
        answer = client.get("/health")
        assert time.monotonic() - started < 1.0
        assert answer.status_code == 503
        assert "no answer within 0.3 s" in answer.json()["components"]["kafka"]["detail"]
    assert len(calls) == 1  # still running: waited for, not piled up


def test_answers_are_cached_for_cache_s(tmp_path, world):
    from aladia_etl.flows.health import Prober

    settings = fakes.settings(tmp_path, cache_s=30.0)
    calls = []
    probes = world.probes(settings)
    connect = probes["connect"]
    probes["connect"] = lambda s, t: calls.append(1) or connect(s, t)
    observer = fakes.observer(settings, world)
    observer.prober = Prober(settings, probes)
    client = TestClient(create_app(observer))
    for _ in range(5):
        client.get("/health")
        client.get("/api/overview")
        client.get("/metrics")
    assert len(calls) == 1


def test_metrics_expose_the_pipeline(client):
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    assert value(found, "aladia_component_up", component="kafka") == 1
    assert value(found, "aladia_healthy") == 1
    assert value(found, "aladia_connector_running", connector="orders-connector") == 1
    assert value(found, "aladia_connector_task_running", connector="orders-connector", task="0") == 1
    assert value(found, "aladia_connector_failed", connector="orders-connector") == 0
    assert value(found, "aladia_replication_slot_retained_wal_bytes", slot="aladia_slot") == 123_456
    topics = fakes.TOPICS
    assert value(found, "aladia_consumer_lag_records", engine="beam", topic=topics[0]) == 10
    assert value(found, "aladia_consumer_lag_records", engine="beam", topic=topics[1]) == 20
    labels = {"engine": "beam", "stream": "default"}
    assert value(found, "aladia_stream_batches_total", **labels) == 42
    assert value(found, "aladia_stream_records_total", **labels) == 5000
    assert value(found, "aladia_stream_rows_total", **labels) == 4800
    assert value(found, "aladia_stream_dead_letters_total", **labels) == 3
    assert value(found, "aladia_stream_tombstones_total", **labels) == 7
    assert value(found, "aladia_stream_batch_duration_seconds_count", **labels) == 42
    assert value(found, "aladia_stream_batch_duration_seconds_sum", **labels) == 21.5
    assert value(found, "aladia_stream_batch_duration_seconds_bucket", le="0.5", **labels) == 20
    assert value(found, "aladia_stream_batch_duration_seconds_bucket", le="+Inf", **labels) == 42
    assert value(found, "aladia_stream_freshness_seconds", quantile="0.99", **labels) == 1.6
    assert value(found, "aladia_stream_freshness_seconds", quantile="0.5", **labels) == 0.8
    assert value(found, "aladia_stream_freshness_seconds_count", **labels) == 40
    assert value(found, "aladia_stream_freshness_seconds_sum", **labels) == 36.0
    assert value(found, "aladia_stream_up", **labels) == 1
    assert value(found, "aladia_stream_retrying", **labels) == 0
    assert value(found, "aladia_stream_lag_records", **labels) == 12
    assert value(found, "aladia_warehouse_dead_letters", status="dead") == 3
    assert value(found, "aladia_warehouse_dead_letters", status="replayed") == 1
    assert value(found, "aladia_accepted_gaps", engine="beam") == 1
    assert value(found, "aladia_accepted_gap_records", engine="beam") == 17


def test_metrics_when_everything_is_down_still_answer(tmp_path):
    answer = TestClient(create_app(Observer(fakes.settings(tmp_path)))).get("/metrics")
    assert answer.status_code == 200
    found = samples(answer.text)
    assert {s.labels["component"]: s.value for s in found["aladia_component_up"]} == {
        "source_db": 0,
        "warehouse_db": 0,
        "kafka": 0,
        "connect": 0,
    }
    assert value(found, "aladia_warehouse_figures_up") == 0


def test_overview_holds_what_the_dashboard_shows(client):
    body = client.get("/api/overview").json()
    assert body["health"]["state"] == "ok"
    assert body["connector"]["tasks"] == ["RUNNING"]
    assert body["slot"]["retained_wal_bytes"] == 123_456
    assert {(r["engine"], r["topic"], r["lag"]) for r in body["lag"]} == {
        ("beam", fakes.TOPICS[0], 10),
        ("beam", fakes.TOPICS[1], 20),
    }
    (pipeline,) = body["pipeline"]
    assert pipeline["records"] == 5000 and pipeline["freshness_p99_s"] == 1.6
    assert body["dead_letters"] == {"dead": 3, "replayed": 1}
    assert len(body["series"]["pipeline"]) == 6
    assert body["series"]["history"][-1]["lag"] == {f"beam {fakes.TOPICS[0]}": 10, f"beam {fakes.TOPICS[1]}": 20}


def test_openapi_describes_every_endpoint_and_its_codes(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/health", "/health/{component}", "/metrics", "/api/overview", "/"} <= set(paths)
    assert {"200", "503"} <= set(paths["/health"]["get"]["responses"])
    assert {"200", "404", "503"} <= set(paths["/health/{component}"]["get"]["responses"])
    assert "200" in paths["/metrics"]["get"]["responses"]
    assert {"Health", "Component", "UnknownComponent"} <= set(spec["components"]["schemas"])


def test_dashboard_is_one_self_contained_page(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>" in html and "<style>" in html and "/api/overview" in html
    for external in ("src=", 'href="http', "@import", "url("):
        assert external not in html
