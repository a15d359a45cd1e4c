"""The Kafka source's options: what Spark reads, and how it splits the work."""

from __future__ import annotations

from aladia_etl.core.settings import Settings
from aladia_etl.processing.model import StreamOptions
from aladia_etl.processing.spark.engine import kafka_source_options


def test_the_source_reads_every_cdc_topic_from_the_earliest_offset_and_stops_on_deleted_records(tmp_path):
    options = kafka_source_options(Settings(data_dir=tmp_path), StreamOptions(max_records_per_batch=1234), 2)
    assert options["kafka.bootstrap.servers"] == Settings(data_dir=tmp_path).kafka.bootstrap_servers
    assert options["startingOffsets"] == "earliest"
    assert options["maxOffsetsPerTrigger"] == "1234"
    assert options["failOnDataLoss"] == "true"
    assert options["minPartitions"] == "4"  # large ranges split so every core has work


def test_accepting_data_loss_reads_each_partition_in_one_task(tmp_path):
    """Spark's reader, skipping a deleted offset, keeps using a consumer it gave back to the pool: a second task on
    the same partition could take it (seen on CI: 'KafkaConsumer is not safe for multi-threaded access')."""
    options = kafka_source_options(Settings(data_dir=tmp_path), StreamOptions(accept_data_loss=True), 2)
    assert options["failOnDataLoss"] == "false"
    assert "minPartitions" not in options
