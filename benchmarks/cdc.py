"""CDC benchmarks on a running stack (`aladia up`, then `aladia init` and `aladia cdc register`):

1. the highest rate `aladia simulate` reaches on this machine (no pacing);
2. capture latency, source commit (Debezium `source.ts_ms`, PostgreSQL's commit time) → record received from
   Kafka, for every change made by `aladia simulate --rate R --duration S`.

    .venv/bin/python benchmarks/cdc.py [--rate 1000] [--duration 20] [--max-events 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aladia_etl.cdc.connector import cdc_topics  # noqa: E402
from aladia_etl.settings import load_settings  # noqa: E402
from aladia_etl.source.bootstrap import connect  # noqa: E402
from aladia_etl.source.simulator import Mix, Simulator  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wait_until_quiet(settings, quiet_s: float = 3.0) -> None:
    """Let the connector drain any backlog: end offsets unchanged for `quiet_s`."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, group_id=None)
    tps = [TopicPartition(t, p) for t in cdc_topics(settings) for p in consumer.partitions_for_topic(t)]
    last, since = None, time.monotonic()
    while time.monotonic() - since < quiet_s:
        ends = consumer.end_offsets(tps)
        if ends != last:
            last, since = ends, time.monotonic()
        time.sleep(0.5)
    consumer.close()


def measure_latency(settings, rate: float, duration: float) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    wait_until_quiet(settings)

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    tps = [TopicPartition(t, p) for t in cdc_topics(settings) for p in consumer.partitions_for_topic(t)]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    latencies: list[float] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=50).values():
                now = time.time()
                for record in records:
                    if record.value:
                        source = json.loads(record.value)["source"]
                        latencies.append(now - source["ts_ms"] / 1000)

    reader = threading.Thread(target=read)
    reader.start()
    with connect(settings) as conn:
        sim = Simulator(conn, Mix(), rng_seed=5)
        sim.load()
        stats = sim.run(rate=rate, duration=duration)
    deadline = time.time() + 30
    while len(latencies) < stats.total and time.time() < deadline:
        time.sleep(0.2)
    stop.set()
    reader.join()
    consumer.close()
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


def max_simulate_rate(settings, events: int) -> dict:
    with connect(settings) as conn:
        sim = Simulator(conn, Mix(), rng_seed=9)
        sim.load()
        stats = sim.run(events=events)
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
