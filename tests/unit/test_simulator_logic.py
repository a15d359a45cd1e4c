from __future__ import annotations

import random

import pytest

from aladia_etl.bus.envelope import describe, summarize
from aladia_etl.core.errors import UsageError
from aladia_etl.source.schema import LIFECYCLE, ORDER_STATUSES
from aladia_etl.source.simulator import Mix, _Pool


def test_mix_parsing():
    assert Mix.parse("insert=5,update=4,delete=1") == Mix(5, 4, 1)
    assert Mix.parse("update=1") == Mix(0, 1, 0)
    for bad in ("insert", "insert=x", "merge=1", "insert=-1", "insert=0,update=0"):
        with pytest.raises(UsageError):
            Mix.parse(bad)


def test_pool_add_remove_choice():
    pool = _Pool([1, 2, 3])
    pool.discard(2)
    pool.discard(99)
    pool.add(3)
    assert len(pool) == 2 and 2 not in pool
    rng = random.Random(0)
    assert {pool.choice(rng) for _ in range(50)} == {1, 3}
    pool.discard(1)
    pool.discard(3)
    assert pool.choice(rng) is None


def test_lifecycle_is_closed_and_terminal_states_have_no_exit():
    assert set(LIFECYCLE) == set(ORDER_STATUSES)
    for targets in LIFECYCLE.values():
        assert set(targets) <= set(ORDER_STATUSES)
    assert LIFECYCLE["cancelled"] == () and LIFECYCLE["refunded"] == ()


def test_envelope_summary_and_tombstone():
    value = b'{"before":null,"after":{"id":1},"source":{"table":"orders","lsn":42,"ts_ms":0,"txId":7},"op":"c"}'
    summary = summarize("t", 0, 5, b'{"id":1}', value)
    assert summary["kind"] == "change" and summary["op"] == "c" and summary["lsn"] == 42 and summary["tx_id"] == 7
    assert summary["commit_time"] is None  # ts_ms 0 means unknown
    assert "create orders" in describe(summary)
    tomb = summarize("t", 0, 6, b'{"id":1}', None)
    assert tomb["kind"] == "tombstone" and "tombstone" in describe(tomb)
    raw = summarize("t", 0, 7, None, b"not json")
    assert raw["kind"] == "message" and raw["value"] == "not json"
