"""The Spark engine on a real standalone cluster (a master and two workers started from pyspark's own jars), reading
topics of four partitions: the work runs in both workers' executors and the warehouse equals the source."""

from __future__ import annotations

from aladia_etl.stack.spark_cluster import StandaloneCluster
from tests.e2e.helpers import assert_every_partition_applied, assert_exact, simulate, stream


def test_spark_engine_on_a_two_worker_cluster_with_four_partitions(partitioned_env, stack_settings):
    simulate(partitioned_env, 5000, "--seed", "505", "--workers", "2")
    with StandaloneCluster(workers=2, cores=1) as cluster:
        result = stream(partitioned_env, "spark", "--until-idle", "--master", cluster.url, "--name", "cluster")
        # Each worker launched an executor for our application, and each executor ran tasks.
        executors = cluster.executor_logs()
        assert {path.parts[-4] for path in executors} == {"worker-0", "worker-1"}, executors
        assert all("Running task" in path.read_text(errors="replace") for path in executors), executors
    assert result["records"] >= 5000 and result["lag"] == 0
    assert_exact(partitioned_env)
    assert_every_partition_applied(partitioned_env, stack_settings, "spark", partitions=4)
