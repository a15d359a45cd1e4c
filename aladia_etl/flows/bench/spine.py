"""Benchmarks of the spine: `aladia --help` wall time, cold `aladia up` with artifacts cached, and the
resident memory of the whole stack at rest. Runs its own stack on its own ports and data directory.

    .venv/bin/python -m aladia_etl.flows.bench.spine [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aladia_etl.flows.bench.memory import tree_rss_kib


def stack_env(data_dir: Path, cache_dir: Path, pg: int, kafka: int, controller: int, connect: int) -> dict[str, str]:
    """The environment of a stack of its own (ports and data directory), whatever ALADIA_* the caller has set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADIA_")}
    env.update(
        {
            "ALADIA_DATA_DIR": str(data_dir),
            "ALADIA_CACHE_DIR": str(cache_dir),
            "ALADIA_POSTGRES__PORT": str(pg),
            "ALADIA_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
            "ALADIA_KAFKA__CONTROLLER_PORT": str(controller),
            "ALADIA_CONNECT__URL": f"http://127.0.0.1:{connect}",
        }
    )
    return env


def aladia(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aladia_etl", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="aladia-bench-", dir="/tmp"))
    base.chmod(0o755)
    cache = Path(os.environ.get("ALADIA_TEST_CACHE_DIR", Path.home() / ".cache" / "aladia-test-artifacts"))
    env = stack_env(base / "data", cache, 25434, 29292, 29293, 28283)
    help_times = [aladia(["--help"], env) for _ in range(args.runs)]
    aladia(["up"], env)  # make sure artifacts are cached, then measure cold starts from nothing
    aladia(["down", "--purge"], env)
    cold_fresh = aladia(["up"], env)
    aladia(["down"], env)
    cold_existing = aladia(["up"], env)
    time.sleep(30)  # "at rest": let start-up allocations settle
    pids = {p.stem: int(p.read_text()) for p in (base / "data" / "state").glob("*.pid")}
    rss = {name: tree_rss_kib(pid) for name, pid in pids.items()}
    aladia(["down", "--purge"], env)
    result = {
        "help_wall_s": {"median": statistics.median(help_times), "max": max(help_times), "runs": args.runs},
        "cold_up_fresh_data_dir_s": round(cold_fresh, 2),
        "cold_up_existing_data_dir_s": round(cold_existing, 2),
        "rss_mib": {name: round(kib / 1024) for name, kib in rss.items()},
        "rss_total_mib": round(sum(rss.values()) / 1024),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
