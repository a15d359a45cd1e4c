"""The documented Beam scale-out graph (ReadFromKafka on a portable runner), built and run here with a stand-in
source: `ReadFromKafka` itself needs Beam's Java expansion service, which is not available offline."""

from __future__ import annotations

from aladia_etl.cdc.connector import cdc_topics
from tests.e2e.conftest import assert_exact, simulate
from tests.kafka_utils import end_offsets, read_range


def test_kafka_source_is_configured_for_the_cdc_topics(pipeline):
    from apache_beam.io.kafka import ReadFromKafka

    from aladia_etl.processing.beam.streaming import kafka_source

    source = kafka_source(pipeline)
    assert isinstance(source, ReadFromKafka)
    config = source._payload  # the external transform's configuration, built without contacting anything
    text = repr(config)
    assert pipeline.kafka.bootstrap_servers in text
    for topic in cdc_topics(pipeline):
        assert topic in text


def test_streaming_graph_runs_the_shared_transforms_into_the_warehouse(pipeline, stack_env):
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from aladia_etl.processing.beam.streaming import build_streaming_pipeline

    simulate(stack_env, 1000, "--seed", "707")
    bootstrap = pipeline.kafka.bootstrap_servers
    topics = cdc_topics(pipeline)
    end = end_offsets(bootstrap, topics)
    records = [(r.topic, r.partition, r.offset, r.key, r.value) for r in read_range(bootstrap, {}, end)]
    assert len(records) == sum(end.values())
    with beam.Pipeline(runner=FnApiRunner()) as p:
        build_streaming_pipeline(p, pipeline, source=beam.Create(records), stream_id="graph-test")
    assert_exact(stack_env)
