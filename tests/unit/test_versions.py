"""Versions that must agree are pinned once (aladia_etl/versions.py) and agree with what is installed."""

from __future__ import annotations

import re
import tomllib

from aladia_etl.core import versions
from aladia_etl.stack.artifacts import debezium_postgres_bundle, kafka_bundle, spark_kafka_bundle
from tests.helpers import REPO


def test_pyproject_pins_pyspark_to_the_connector_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("pyspark")]
    assert pins == [f"pyspark=={versions.SPARK_VERSION}"]


def test_installed_pyspark_matches_the_spark_connector():
    assert versions.installed_version("pyspark") == versions.SPARK_VERSION
    coordinate = spark_kafka_bundle().coordinates[0]
    assert coordinate == f"org.apache.spark:spark-sql-kafka-0-10_2.13:{versions.SPARK_VERSION}"


def test_pyproject_pins_apache_beam_to_the_prism_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("apache-beam")]
    assert pins == [f"apache-beam=={versions.BEAM_VERSION}"]
    assert versions.installed_version("apache-beam") == versions.BEAM_VERSION


def test_every_debezium_and_kafka_artifact_uses_the_pins():
    for bundle in (kafka_bundle(), debezium_postgres_bundle()):
        for coordinate in bundle.coordinates:
            group, _artifact, version = coordinate.split(":")
            if group == "org.apache.kafka":
                assert version == versions.KAFKA_VERSION
            if group == "io.debezium":
                assert version == versions.DEBEZIUM_VERSION


def test_no_other_module_hard_codes_a_pinned_version():
    pinned = {versions.KAFKA_VERSION, versions.DEBEZIUM_VERSION, versions.SPARK_VERSION}
    offenders = []
    for path in (REPO / "aladia_etl").rglob("*.py"):
        if path.name == "versions.py":
            continue
        text = path.read_text()
        for version in pinned:
            if re.search(rf"[\"']{re.escape(version)}[\"']", text):
                offenders.append(f"{path.relative_to(REPO)}: {version}")
    assert offenders == []


def test_bundle_fingerprint_changes_with_the_version():
    assert kafka_bundle("4.3.0").fingerprint != kafka_bundle("4.2.0").fingerprint
    assert debezium_postgres_bundle().fingerprint == debezium_postgres_bundle().fingerprint
