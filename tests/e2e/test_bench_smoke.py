"""A small `aladia bench` run on the real stack: every figure is produced and the JSON holds them all.
Figures are not asserted as timings."""

from __future__ import annotations

import json

from tests.helpers import run_cli


def test_bench_smoke(pipeline, stack_env, tmp_path):
    from aladia_etl.processing.checkpoints import checkpoint_path, forget, marker

    out, chart = tmp_path / "bench.json", tmp_path / "bench.html"
    # a user's stream whose name the bench also uses, on the user's own warehouse
    users = checkpoint_path(pipeline, "bench-drain")
    (users / "commits").mkdir(parents=True)
    marker(users).write_text("users")
    checkpoints = users.parent
    before = sorted(checkpoints.iterdir())
    result = run_cli(
        [
            "bench",
            "--events",
            "3000",
            "--rate",
            "300",
            "--duration",
            "6",
            "--sustained-seconds",
            "6",
            "--sustained-rates",
            "100,200",
            "--out",
            str(out),
            "--chart",
            str(chart),
        ],
        stack_env,
        timeout=1800,
    )
    assert result.code == 0, result.output[-5000:]
    data = json.loads(out.read_text())
    assert data["fill"]["changes"] == 3000
    for engine in ("spark", "beam"):
        for drain in (data["drain"][engine], data["drain_default_format"][engine]):
            assert drain["records"] >= data["fill"]["topic_records"] and drain["events_per_s"] > 0
            assert drain["peak_rss_mib"] > 100  # the stream's processes were measured
            assert drain["warehouse_equals_source"] is True
        fresh = data["freshness"][engine]
        assert fresh["rows"] > 0 and 0 <= fresh["p50_s"] <= fresh["p95_s"] <= fresh["p99_s"] <= fresh["max_s"]
        assert fresh["valid"] is (fresh["rate_achieved"] >= 0.95 * fresh["rate_target"])
        if fresh["valid"]:  # where the time went: the stages' means add up to the total's
            stages = fresh["stages"]
            assert set(stages) == {"debezium_s", "to_batch_s", "staging_s", "apply_s"}, stages
            assert min(stages[s]["p50_s"] for s in ("to_batch_s", "staging_s", "apply_s")) >= 0
            parts = sum(stages[s]["mean_s"] for s in ("to_batch_s", "staging_s", "apply_s"))
            assert abs(parts - fresh["mean_s"]) <= 0.01, (parts, fresh["mean_s"])
            assert 0 <= stages["debezium_s"]["mean_s"] <= stages["to_batch_s"]["mean_s"]
        sustained = data["sustained"][engine]
        assert [s["rate"] for s in sustained["steps"]][:1] == [100.0]
        assert all({"achieved", "valid", "passed", "max_lag_second_half"} <= set(s) for s in sustained["steps"])
        start = data["startup"][engine]
        assert 0 < start["start_to_first_batch_s"] < start["command_to_exit_s"] and start["records"] > 0
        assert 0 < data["drain"][engine]["start_to_first_batch_s"] < data["drain"][engine]["wall_s_including_start"]
        assert data["ratios"][f"{engine}_vs_jdbc_sink"] > 0 and data["ratios"][f"{engine}_vs_native"] > 0
    assert [s["rate"] for s in data["capture"]["steps"]][:1] == [100.0]
    matrix = {(m["engine"], m.get("workers"), m["partitions"]) for m in data["drain_matrix"]}
    assert matrix == {
        (e, w, p) for e, w in (("spark", None), ("spark", 1), ("spark", 2), ("beam", None)) for p in (1, 4)
    }
    assert all(m["warehouse_equals_source"] for m in data["drain_matrix"])
    assert data["drain"]["jdbc_sink"]["records"] == data["fill"]["topic_records"]
    assert data["drain"]["jdbc_sink"]["events_per_s"] > 0
    assert data["native"]["rows_per_s"] > 0 and data["native"]["target_matches_source"] is True
    assert {"cores", "memory_gib", "python", "java", "spark", "beam", "kafka", "debezium"} <= set(data["machine"])
    assert 'data-chart="drain"' in chart.read_text()
    assert "Drain" in result.stdout and "Freshness" in result.stdout
    # The bench cleans up after itself: no bench connector, database or topic is left.
    topics = json.loads(run_cli(["topics", "--json"], stack_env).stdout)["topics"]
    assert not [t for t in topics if t["name"].startswith("aladia_bench")]
    # nor the checkpoints of its Spark streams (one per warehouse it drained into); a user's are kept
    assert sorted(checkpoints.iterdir()) == before
    assert users.is_dir()
    forget(users)
