"""CDC benchmarks on a running stack (`aladia up`, then `aladia init` and `aladia cdc register`):

1. the highest rate the simulated workload reaches on this machine (no pacing);
2. capture latency, source commit (Debezium `source.ts_ms`, PostgreSQL's commit time) → record received from
   Kafka, for every change made at `--rate R` for `--duration S`.

    .venv/bin/python -m aladia_etl.flows.bench.capture [--rate 1000] [--duration 20] [--max-events 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from aladia_etl.bus.offsets import read_offsets
from aladia_etl.bus.topics import cdc_topics
from aladia_etl.core.settings import Settings, load_settings
from aladia_etl.source.workload import simulate
from aladia_etl.stack.connections import closing, consumer


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wait_until_quiet(settings: Settings, quiet_s: float = 3.0) -> None:
    """Let the connector drain any backlog: end offsets unchanged for `quiet_s`."""
    last, since = None, time.monotonic()
    while time.monotonic() - since < quiet_s:
        ends = [o.end for o in read_offsets(settings, cdc_topics(settings))]
        if ends != last:
            last, since = ends, time.monotonic()
        time.sleep(0.5)


def measure_latency(settings: Settings, rate: float, duration: float) -> dict:
    from kafka import TopicPartition

    wait_until_quiet(settings)
    latencies: list[float] = []
    stop = threading.Event()
    with closing(consumer(settings, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10)) as c:
        tps = [TopicPartition(o.topic, o.partition) for o in read_offsets(settings, cdc_topics(settings))]
        c.assign(tps)
        c.seek_to_end(*tps)
        for tp in tps:
            c.position(tp)

        def read() -> None:
            while not stop.is_set():
                for records in c.poll(timeout_ms=50).values():
                    now = time.time()
                    for record in records:
                        if record.value:
                            source = json.loads(record.value)["source"]
                            latencies.append(now - source["ts_ms"] / 1000)

        reader = threading.Thread(target=read)
        reader.start()
        stats = simulate(settings, rate=rate, duration=duration, seed=5)
        deadline = time.time() + 30
        while len(latencies) < stats.total and time.time() < deadline:
            time.sleep(0.2)
        stop.set()
        reader.join()
    return {
        "rate_target": rate,
        "rate_achieved": round(stats.rate, 1),
        "changes": stats.total,
        "records_received": len(latencies),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p99": round(percentile(latencies, 99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
    }


def max_simulate_rate(settings: Settings, events: int) -> dict:
    stats = simulate(settings, events=events, seed=9)
    return {
        "events": stats.total,
        "transactions": stats.transactions,
        "seconds": round(stats.elapsed_s, 2),
        "changes_per_s": round(stats.rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--max-events", type=int, default=20000)
    args = parser.parse_args()
    settings = load_settings()
    result = {
        "simulate_max": max_simulate_rate(settings, args.max_events),
        "capture_latency": measure_latency(settings, args.rate, args.duration),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
