"""The stream loop's stop rules and the Beam engine's offset planner (pure logic)."""

from __future__ import annotations

import time

import pytest

from aladia_etl.bus.offsets import PartitionOffsets
from aladia_etl.core.errors import UsageError
from aladia_etl.processing.beam.engine import MicroBatchBeamEngine, plan_ranges
from aladia_etl.processing.loop import should_stop
from aladia_etl.processing.model import ENGINES, StreamOptions, StreamProgress, check_engine

T = "orders_db.public.orders"
ITEMS = "orders_db.public.order_items"


def progress(batches=0, lag=None, age=0.0) -> StreamProgress:
    p = StreamProgress("spark", batches=batches, lag=lag)
    p.started_at = time.monotonic() - age
    return p


def decide(options, p, busy=False, signalled=False, gate=True, idle_since=None, now=100.0):
    return should_stop(options, p, busy, signalled, gate, idle_since, now)


def test_signal_wins_over_everything():
    assert decide(StreamOptions(until_idle=True), progress(lag=0), signalled=True)[0] == "signal"


def test_duration_and_max_batches():
    assert decide(StreamOptions(duration=5), progress(age=6))[0] == "duration"
    assert decide(StreamOptions(duration=5), progress(age=1))[0] is None
    assert decide(StreamOptions(max_batches=3), progress(batches=3))[0] == "max-batches"
    skipped = progress(batches=1)
    skipped.skipped = 2
    assert decide(StreamOptions(max_batches=3), skipped)[0] == "max-batches"


def test_until_idle_needs_zero_lag_for_the_settle_time():
    options = StreamOptions(until_idle=True, settle_s=2)
    reason, since = decide(options, progress(lag=0), now=100.0)
    assert (reason, since) == (None, 100.0)
    assert decide(options, progress(lag=0), idle_since=since, now=101.0) == (None, 100.0)
    assert decide(options, progress(lag=0), idle_since=since, now=102.0)[0] == "idle"
    # any lag, or a batch in flight, starts the settle time again
    assert decide(options, progress(lag=3), idle_since=since, now=102.0) == (None, None)
    assert decide(options, progress(lag=0), busy=True, idle_since=since, now=102.0) == (None, None)
    assert decide(options, progress(lag=None), idle_since=since, now=102.0) == (None, None)


def test_until_idle_waits_for_the_gate():
    options = StreamOptions(until_idle=True, settle_s=0)
    assert decide(options, progress(lag=0), gate=False, now=100.0)[0] is None
    assert decide(options, progress(lag=0), gate=True, now=100.0)[0] == "idle"


def test_engine_registry_validates_names():
    assert check_engine("spark") == "spark" and set(ENGINES) == {"spark", "beam"}
    with pytest.raises(UsageError) as info:
        check_engine("flink")
    assert "spark, beam" in info.value.fix


def offsets(**ends):
    return [PartitionOffsets(T, 0, 0, ends.get("orders", 0)), PartitionOffsets(ITEMS, 0, 0, ends.get("items", 0))]


def test_plan_resumes_from_the_applied_offsets_up_to_the_end():
    assert plan_ranges(offsets(orders=100, items=50), {(T, 0): 40}, 1000) == [(T, 0, 40, 100), (ITEMS, 0, 0, 50)]
    assert plan_ranges(offsets(orders=100, items=50), {(T, 0): 100, (ITEMS, 0): 50}, 1000) == []


def test_plan_budget_is_global_and_shared_fairly():
    ranges = plan_ranges(offsets(orders=1000, items=30), {}, 100)
    assert sum(end - start for _, _, start, end in ranges) == 100
    assert ranges == [
        (T, 0, 0, 70),
        (ITEMS, 0, 0, 30),
    ]  # the small backlog is served whole, the rest gets the remainder
    even = plan_ranges(offsets(orders=1000, items=1000), {}, 100)
    assert [end - start for _, _, start, end in even] == [50, 50]


def test_plan_starts_at_the_log_start_when_retention_moved_it():
    moved = [PartitionOffsets(T, 0, 500, 600)]
    assert plan_ranges(moved, {(T, 0): 100}, 1000) == [(T, 0, 500, 600)]


def test_split_covers_each_range_exactly():
    pieces = MicroBatchBeamEngine.split([(T, 0, 10, 60_010)], size=25_000)
    assert pieces == [(T, 0, 10, 25_010), (T, 0, 25_010, 50_010), (T, 0, 50_010, 60_010)]
