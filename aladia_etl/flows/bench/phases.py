"""What `aladia bench` measures, one function per figure, each on the bench's isolated source and topics:

- `drain`: an engine applying a filled backlog (records/s from its first batch to its last), its start-up (stream
  start → first batch applied) and its peak resident memory;
- `startup`: the same start-up measured from the command line (`aladia stream` as a user runs it);
- `freshness`: source commit → warehouse row, at a fixed rate, and where that time goes (`STAGES`);
- `capture`: Debezium alone — the highest rate at which the CDC topics keep up with the source;
- `sustained`: per engine, the highest rate whose lag stays bounded.

A phase whose generator misses its target rate by more than 5 % is reported as invalid, never as a figure.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings

log = logging.getLogger("aladia.bench")

TOLERANCE = 0.05  # a generator short of its target by more than this makes the phase invalid


def valid_rate(target: float, achieved: float) -> bool:
    return achieved >= (1 - TOLERANCE) * target


def drain(
    bench, engine: str, variant: str = "plain", master: str | None = None, label: str = "", pipeline=None
) -> dict[str, Any]:
    """One engine draining the topics of `variant` into a fresh warehouse; `pipeline`: a pipeline file whose tables
    (compiled against the bench's source) the stream fills instead of the built-in model's."""
    from aladia_etl.flows.bench.memory import PeakRss
    from aladia_etl.flows.pipeline import compile_file
    from aladia_etl.processing.loop import run_stream
    from aladia_etl.processing.model import StreamOptions
    from aladia_etl.warehouse.verify import verify

    target = bench.fresh_warehouse(engine, f"drain_{variant}{label}{'_file' if pipeline else ''}", variant)
    compiled = None
    if pipeline is not None:
        compiled = compile_file(bench.src, pipeline)
        target = target.with_capture(compiled.captured)
    options = StreamOptions(
        engine=engine,
        until_idle=True,
        from_beginning=True,
        settle_s=1.0,
        trigger_interval=bench.options.trigger_interval,
        stream_name="bench-drain",
        master=master or StreamOptions.master,
        sinks=None if compiled is None else compiled.spec(),
    )
    started = time.monotonic()
    with PeakRss() as peak:
        progress = run_stream(target, options)
    wall = time.monotonic() - started
    first = None if progress.first_batch_end is None else progress.first_batch_end - progress.started_at
    return {
        "records": progress.records,
        "batches": progress.batches,
        "seconds": round(progress.drain_s or 0, 3),
        "events_per_s": round(progress.records / progress.drain_s, 1) if progress.drain_s else None,
        "wall_s_including_start": round(wall, 3),
        "start_to_first_batch_s": None if first is None else round(first, 2),
        "peak_rss_mib": peak.mib,
        "warehouse_equals_source": verify(target, None if compiled is None else compiled.sinks).ok,
    }


def startup(bench, engine: str) -> dict[str, Any]:
    """`aladia stream` from the command line on a fresh warehouse: one small batch, then stop. The first batch
    applied is what a user waits for."""
    from aladia_etl.flows.bench.setup import bench_env

    target = bench.fresh_warehouse(engine, "startup", "plain")
    args = ["stream", "--engine", engine, "--name", "bench-startup", "--from-beginning", "--max-batches", "1"]
    args += ["--max-records-per-batch", "1000", "--json"]
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "aladia_etl", *args], env=bench_env(target), capture_output=True, text=True, timeout=600
    )
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise AladiaError(f"aladia stream --engine {engine} failed in the bench", proc.stderr.strip()[-300:])
    result = json.loads(proc.stdout)
    return {
        "command_to_exit_s": round(wall, 2),
        "start_to_first_batch_s": result.get("first_batch_after_s"),
        "records": result.get("records"),
    }


class Streaming:
    """A stream running in a thread until stopped, its lag readable meanwhile."""

    def __init__(self, bench, engine: str, target: Settings, name: str) -> None:
        from aladia_etl.processing.loop import run_stream
        from aladia_etl.processing.model import StreamOptions

        self.stop = threading.Event()
        self.progress = None
        self.error: BaseException | None = None
        options = StreamOptions(
            engine=engine, from_beginning=True, trigger_interval=bench.options.trigger_interval, stream_name=name
        )

        def run() -> None:
            try:
                run_stream(target, options, on_progress=lambda p: setattr(self, "progress", p), stop=self.stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the bench's thread
                self.error = exc

        self.thread = threading.Thread(target=run, name=f"bench-{engine}", daemon=True)
        self.thread.start()

    def lag(self) -> int | None:
        if self.error:
            raise self.error
        p = self.progress
        return None if p is None or p.batches == 0 else p.lag

    def caught_up(self, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        zero_since = None
        while time.monotonic() < deadline:
            if self.lag() == 0:
                zero_since = zero_since or time.monotonic()
                if time.monotonic() - zero_since >= 1.0:
                    return
            else:
                zero_since = None
            time.sleep(0.2)
        raise AladiaError("the engine did not catch up during the bench", "see the engine's log")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=300)


def _percentiles(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))], 3)

    return {
        "p50_s": pct(50),
        "p95_s": pct(95),
        "p99_s": pct(99),
        "max_s": round(latencies[-1], 3),
        "mean_s": round(statistics.fmean(latencies), 3),
    }


# Where a row's freshness goes (Debezium's part of the first stage is measured on the records: `debezium_latencies`),
# per row, from its batch in `pipeline_batches` (the newest batch claimed before the row
# was merged; a bench warehouse has one stream): its start is the claim time less the recorded duration. A row whose
# batch has no recorded duration is left out.
STAGES = {
    # Debezium, Kafka, the engine's wait (Spark's trigger and query planning, Beam's read and pane)
    "to_batch_s": "(b.applied_at - b.duration_ms * interval '1 millisecond') - t.source_ts",
    # reading the batch's records, converting them, COPYing them into the staging tables (Beam: a pane's start is its
    # first chunk's staging start, so the pane's wait for its other chunks is here too, and a row of a later chunk
    # can have a negative first stage)
    "staging_s": "b.duration_ms * interval '1 millisecond'",
    # the apply transaction from its claim to the merge of this row
    "apply_s": "t.loaded_at - b.applied_at",
}
_STAGE_ROWS = f"""
SELECT {", ".join(f"extract(epoch FROM {expr})::float8" for expr in STAGES.values())}
  FROM {{table}} t
 CROSS JOIN LATERAL (SELECT applied_at, duration_ms FROM pipeline_batches
                      WHERE applied_at <= t.loaded_at ORDER BY applied_at DESC LIMIT 1) b
 WHERE t.source_ts >= %s AND b.duration_ms IS NOT NULL
"""


def stages(conn, tables: tuple[str, ...], since: datetime) -> dict[str, dict[str, float]]:
    """Percentiles of each stage of `STAGES` over the rows of `tables` committed in the source since `since`. Each
    stage's percentiles are its own (their p50s need not add up to the total's); their means do."""
    rows = [r for table in tables for r in conn.execute(_STAGE_ROWS.format(table=table), (since,))]
    if not rows:
        return {}
    return {name: _percentiles([r[i] for r in rows]) for i, name in enumerate(STAGES)}


def debezium_latencies(settings: Settings, since: list, timeout_s: float = 60.0) -> list[float]:
    """Debezium's part of freshness: for each CDC record written after `since` (PartitionOffsets), its Kafka
    timestamp (when Connect's producer sent it) minus its source commit time (`source.ts_ms`), in seconds.
    Tombstones and records without a source time are skipped."""
    from contextlib import closing

    from kafka import TopicPartition

    from aladia_etl.bus.offsets import read_offsets
    from aladia_etl.bus.reader import range_consumer

    end = {o.key: o.end for o in read_offsets(settings, sorted({o.topic for o in since}))}
    out: list[float] = []
    with closing(range_consumer(settings.kafka.client(), "aladia-bench-debezium")) as consumer:
        for start in since:
            stop, tp = end.get(start.key, start.end), TopicPartition(start.topic, start.partition)
            consumer.assign([tp])
            consumer.seek(tp, start.end)
            deadline = time.monotonic() + timeout_s
            while consumer.position(tp) < stop and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=500).values():
                    for r in records:
                        ts_ms = _source_ts_ms(r.value) if r.offset < stop and r.timestamp >= 0 else None
                        if ts_ms is not None:
                            out.append((r.timestamp - ts_ms) / 1000)
    return out


def _source_ts_ms(value: bytes | None) -> int | None:
    """`source.ts_ms` of a Debezium change in schemaless JSON or in JsonConverter's schema envelope (`payload`);
    None for a tombstone or anything else."""
    try:
        event = json.loads(value) if value else None
    except ValueError:
        return None
    if isinstance(event, dict) and isinstance(event.get("payload"), dict):
        event = event["payload"]
    source = event.get("source") if isinstance(event, dict) else None
    ts_ms = source.get("ts_ms") if isinstance(source, dict) else None
    return ts_ms if isinstance(ts_ms, int) and not isinstance(ts_ms, bool) else None


def freshness(bench, engine: str) -> dict[str, Any]:
    from aladia_etl.bus.offsets import read_offsets
    from aladia_etl.warehouse import loader

    target = bench.fresh_warehouse(engine, "fresh", "plain")
    stream = Streaming(bench, engine, target, "bench-fresh")
    try:
        stream.caught_up()
        window_start = datetime.now(UTC)
        offsets = read_offsets(bench.settings, bench.topics("plain"))
        stats = bench.simulate_apart(bench.options.rate, bench.options.duration)
        stream.caught_up()
    finally:
        stream.close()
    latencies: list[float] = []
    tables = ("dim_customer", "dim_product", "fact_order", "fact_order_item")
    with loader.connect(target) as conn:
        breakdown = stages(conn, tables, window_start)
        for table in tables:
            latencies += [
                r[0]
                for r in conn.execute(
                    f"SELECT extract(epoch FROM loaded_at - source_ts)::float8 FROM {table} WHERE source_ts >= %s",
                    (window_start,),
                )
            ]
    try:
        debezium = debezium_latencies(bench.settings, offsets)
    except Exception as exc:  # noqa: BLE001 - the breakdown's extra part: the freshness measured stands without it
        log.warning("bench: Debezium's part of freshness was not measured: %s", exc)
        debezium = []
    if breakdown and debezium:  # the first part of commit → batch
        breakdown = {"debezium_s": _percentiles(debezium), **breakdown}
    if not latencies:
        raise AladiaError("no rows were loaded during the freshness window", "see the engine's log")
    valid = valid_rate(bench.options.rate, stats.rate)
    return {
        "rate_target": bench.options.rate,
        "rate_achieved": round(stats.rate, 1),
        "valid": valid,
        "duration_s": bench.options.duration,
        "rows": len(latencies),
        **(_percentiles(latencies) if valid else {}),
        **({"stages": breakdown} if valid and breakdown else {}),
    }


def _step(bench, rate: float, sample, apart: bool = False) -> dict[str, Any]:
    """Run the generator at `rate` for the step's length, sampling `sample(stats so far)` (a lag) every half
    second. `apart`: the generator runs in a process of its own (`Bench.simulate_apart`; `sample` then gets None)."""
    samples: list[tuple[float, int]] = []
    done = threading.Event()
    out: dict[str, Any] = {"progress": None}

    def run() -> None:
        try:
            if apart:
                out["stats"] = bench.simulate_apart(rate, bench.options.sustained_seconds)
            else:
                out["stats"] = bench.simulate(
                    rate=rate,
                    duration=bench.options.sustained_seconds,
                    on_progress=lambda stats: out.__setitem__("progress", stats),
                )
        except BaseException as exc:  # noqa: BLE001 - raised in the bench's thread below
            out["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    while not done.is_set():
        samples.append((time.monotonic() - started, sample(out["progress"]) or 0))
        time.sleep(0.5)
    thread.join()
    error = out.get("error")
    if isinstance(error, AladiaError):
        raise error
    if "stats" not in out:
        why = f" ({type(error).__name__}: {error})" if error is not None else ""
        raise AladiaError(f"the workload generator failed during the bench{why}", "see the source database's log")
    achieved = out["stats"].rate
    second_half = [v for t, v in samples if t >= bench.options.sustained_seconds / 2]
    worst = max(second_half or [0])
    return {
        "rate": rate,
        "achieved": round(achieved, 1),
        "valid": valid_rate(rate, achieved),
        "max_lag_second_half": worst,
        "passed": worst <= rate * 3,
    }


def _search(bench, sample, between=None, apart: bool = False) -> dict[str, Any]:
    """Step up the rate; a step passes when the lag stays under 3 seconds' worth of changes during its second
    half. The highest passing valid step is the figure; a step the generator cannot reach ends the search."""
    steps, best = [], None
    for rate in bench.options.sustained_rates:
        step = _step(bench, rate, sample, apart)
        steps.append(step)
        if not step["valid"] or not step["passed"]:
            break
        best = rate
        if between:
            between()
    return {
        "highest_bounded_rate": best,
        "generator_limited": bool(steps) and not steps[-1]["valid"],
        "steps": steps,
        "step_seconds": bench.options.sustained_seconds,
    }


def capture(bench) -> dict[str, Any]:
    """Debezium alone: source commits → records in the CDC topics. The lag sampled during a step is the records
    the generator's committed changes must give (one per change, a tombstone per delete) minus those published."""
    state: dict[str, int] = {}

    def lag(stats) -> int:
        published = bench.topic_total("plain")
        if stats is None or "base" not in state:
            state.setdefault("base", published)
            return 0
        return max(0, state["base"] + stats.cdc_records - published)

    def next_step() -> None:
        bench.wait_quiet()
        state.pop("base", None)

    return _search(bench, lag, between=next_step)


def sustained(bench, engine: str) -> dict[str, Any]:
    # Debezium first publishes what an earlier phase left (the capture search ends with a step it could not keep
    # up with): else the engine's first step would be measured against that backlog
    bench.wait_quiet()
    target = bench.fresh_warehouse(engine, "sustained", "plain")
    stream = Streaming(bench, engine, target, "bench-sustained")
    try:
        stream.caught_up()
        return _search(bench, lambda _stats: stream.lag(), between=stream.caught_up, apart=True)
    finally:
        stream.close()
