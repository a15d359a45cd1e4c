"""Topics of four partitions: each engine reads every partition (Spark a task per partition, Beam a restriction per
partition) and the warehouse equals the source. Spark on four partitions runs in the cluster test."""

from __future__ import annotations

from tests.e2e.helpers import assert_every_partition_applied, assert_exact, simulate, stream


def test_beam_reads_four_partitions_exactly(partitioned_env, stack_settings):
    simulate(partitioned_env, 3000, "--seed", "404", "--workers", "2")
    result = stream(partitioned_env, "beam", "--until-idle")
    assert result["lag"] == 0
    assert_exact(partitioned_env)
    assert_every_partition_applied(partitioned_env, stack_settings, "beam", partitions=4)
