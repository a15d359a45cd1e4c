"""Topics of four partitions: each engine reads every partition (Spark a task per partition, Beam a restriction per
partition) and the warehouse equals the source. Spark on four partitions runs in the cluster test."""

from __future__ import annotations

from tests.e2e.helpers import (
    assert_every_partition_applied,
    assert_exact,
    simulate,
    snapshot,
    spawn_stream,
    stop,
    stream,
    wait_running,
    wait_until,
    warehouse,
)


def test_beam_reads_four_partitions_exactly(partitioned_env, stack_settings):
    simulate(partitioned_env, 3000, "--seed", "404", "--workers", "2")
    result = stream(partitioned_env, "beam", "--until-idle")
    assert result["lag"] == 0
    assert_exact(partitioned_env)
    assert_every_partition_applied(partitioned_env, stack_settings, "beam", partitions=4)


def test_beam_reads_a_partition_added_while_it_runs(partitioned_env, stack_settings):
    """A partition added to a topic while a Beam stream runs is read without a restart: records written to it (copies
    of changes the stream already applied, so the warehouse must not change) reach the warehouse's offsets."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewPartitions

    from aladia_etl.bus.topics import cdc_topic
    from tests.kafka_utils import end_offsets, produce, read_range

    bootstrap = stack_settings.kafka.bootstrap_servers
    settings = stack_settings.model_copy(
        update={"cdc": stack_settings.cdc.model_copy(update={"topic_prefix": "orders4"})}
    )
    topic = cdc_topic(settings, "customers")
    target = stack_settings.postgres.model_copy(
        update={"warehouse_db": partitioned_env["ALADIA_POSTGRES__WAREHOUSE_DB"]}
    )
    warehouse_settings = stack_settings.model_copy(update={"postgres": target})
    assert stream(partitioned_env, "beam", "--until-idle")["lag"] == 0  # caught up: nothing else to apply
    proc = spawn_stream(partitioned_env, "beam", "--trigger-interval", "200ms")
    try:
        wait_running(proc, partitioned_env)
        before = snapshot(warehouse_settings)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.create_partitions({topic: NewPartitions(total_count=5)})
        finally:
            admin.close()
        ends = {tp: end for tp, end in end_offsets(bootstrap, [topic]).items() if tp.partition == 0}
        copies = [(r.key, r.value) for r in read_range(bootstrap, {}, ends)][:20]
        sent = produce(bootstrap, topic, copies, partition=4)
        assert {m.partition for m in sent} == {4} and len(sent) == len(copies) > 0

        def applied() -> int | None:
            with warehouse(warehouse_settings) as conn:
                row = conn.execute(
                    "SELECT next_offset FROM pipeline_offsets WHERE engine = 'beam' AND topic = %s AND partition = 4",
                    (topic,),
                ).fetchone()
            return row and row[0]

        wait_until(lambda: applied() == len(copies), 120, what=lambda: f"partition 4 applied to {applied()}")
    finally:
        code, err = stop(proc)
    assert code == 0, err[-3000:]
    assert snapshot(warehouse_settings) == before  # copies of applied changes: nothing changed
    assert_exact(partitioned_env)
