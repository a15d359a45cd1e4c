"""The metric names are one contract: docs/OPERATIONS.md's table, what `aladia serve` and
`aladia stream --metrics-port` expose (registries built with fake data), and what compose/alerts.yml and
compose/prometheus.yml use."""

from __future__ import annotations

import re

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aladia_etl.processing.metrics import StreamCollector
from aladia_etl.processing.model import StreamProgress
from aladia_etl.serve.metrics import registry_for
from tests.helpers import REPO
from tests.unit.serve import fakes

BUILTIN = {"up"}  # Prometheus's own, per scrape target


def exposed(registry) -> dict[str, set[str]]:
    """Documented name (counters with _total) -> the sample names it yields."""
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        name = family.name + ("_total" if family.type == "counter" else "")
        out.setdefault(name, set()).update(s.name for s in family.samples)
    return out


@pytest.fixture(scope="module")
def server_names(tmp_path_factory):
    observer = fakes.observer(fakes.settings(tmp_path_factory.mktemp("serve")), fakes.World())
    return exposed(registry_for(observer.snapshot))


@pytest.fixture(scope="module")
def stream_names():
    progress = StreamProgress("beam", "default", state="running", lag=5, last_batch_s=0.2)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamCollector(progress))
    return exposed(registry)


def documented_table() -> dict[str, str]:
    """metric -> "exposed by" column of the metrics table (docs/OPERATIONS.md)."""
    rows = re.findall(
        r"^\| `(aladia_[a-z0-9_]+)` \|[^|]*\|[^|]*\| ([a-z, ]+) \|", (REPO / "docs/OPERATIONS.md").read_text(), re.M
    )
    return {name: by.strip() for name, by in rows}


def test_every_metric_is_in_the_one_documented_table_and_where_it_says(server_names, stream_names):
    table = documented_table()
    assert set(table) == set(server_names) | set(stream_names)
    for name, by in table.items():
        assert ("serve" in by) == (name in server_names), name
        assert ("stream" in by.split(", ")) == (name in stream_names), name


def test_names_follow_prometheus_conventions(server_names, stream_names):
    for name in {**server_names, **stream_names}:
        assert re.fullmatch(r"aladia_[a-z][a-z0-9_]*", name)
        assert not name.endswith(("_ms", "_milliseconds", "_kb", "_mb")), name  # base units


def test_shared_stream_metrics_have_the_same_type_and_labels(tmp_path):
    def families(registry):
        return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}

    observer = fakes.observer(fakes.settings(tmp_path), fakes.World())
    server = families(registry_for(observer.snapshot))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamCollector(StreamProgress("beam", "default", state="running", lag=5)))
    stream = families(registry)
    shared = set(server) & set(stream)
    assert {"aladia_stream_batches", "aladia_stream_dead_letters", "aladia_stream_lag_records"} <= shared
    for name in shared:
        assert server[name].type == stream[name].type, name
        assert {tuple(sorted(s.labels)) for s in server[name].samples} == {
            tuple(sorted(s.labels)) for s in stream[name].samples
        }, name


def rules() -> list[dict]:
    spec = yaml.safe_load((REPO / "compose/alerts.yml").read_text())
    return [rule for group in spec["groups"] for rule in group["rules"]]


def test_every_metric_an_alert_uses_is_exposed(server_names, stream_names):
    samples = set().union(*server_names.values(), *stream_names.values())
    for rule in rules():
        used = set(re.findall(r"\baladia_[a-z0-9_]+", rule["expr"])) | set(re.findall(r"\bup(?=\{)", rule["expr"]))
        assert used, rule["alert"]
        missing = used - samples - BUILTIN
        assert not missing, f"{rule['alert']} uses {missing}"


def test_the_alerts_cover_what_the_issue_asks(server_names):
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    used = " ".join(exprs.values())
    for metric in (
        "aladia_component_up",
        "aladia_connector_failed",
        "aladia_connector_task_running",
        "aladia_consumer_lag_records",
        "aladia_stream_freshness_seconds",
        "aladia_stream_dead_letters_total",
        "aladia_replication_slot_retained_wal_bytes",
    ):
        assert metric in used, metric
    for rule in rules():
        assert {"severity"} <= set(rule["labels"]) and rule["annotations"]["summary"]


def test_prometheus_scrapes_the_server_and_a_stream_and_loads_the_rules():
    config = yaml.safe_load((REPO / "compose/prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {"aladia-serve": ["127.0.0.1:8000"], "aladia-stream": ["127.0.0.1:9464"]}
    assert config["rule_files"] == ["alerts.yml"]  # next to the configuration, on the host and in the container
    compose = yaml.safe_load((REPO / "compose/docker-compose.yml").read_text())
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]  # `aladia up --docker` does not start it
    mounts = {v.split(":")[1] for v in prometheus["volumes"]}
    assert mounts == {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml"}
