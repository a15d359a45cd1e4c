"""The one processing path, without I/O: rows, dead letters, tombstones, offsets and stats of a bundle."""

from __future__ import annotations

from collections import Counter

from aladia_etl.processing.bundle import chunks, process
from aladia_etl.warehouse.staging import StageStats
from tests.factories import raw_record, record, row, topic

T = topic("orders")


def test_process_splits_rows_dead_letters_and_tombstones():
    records = [
        record("orders", row("orders", id=1), offset=10, lsn=5),
        record("orders", row("orders", id=2, status="lost"), offset=11),
        record("orders", row("orders", id=1), offset=12, lsn=9, op="d"),
        raw_record("orders", None, offset=13),
        raw_record("orders", b"{broken", offset=3, partition=1),
    ]
    bundle = process(records)
    assert [r[0] for r in bundle.rows["orders"]] == [1, 1]
    assert [(d.offset, d.reason) for d in bundle.dead] == [
        (11, "status: unknown order status 'lost'"),
        (3, bundle.dead[1].reason),
    ]
    assert "malformed JSON" in bundle.dead[1].reason
    assert bundle.dead[1].value == b"{broken" and bundle.dead[1].key == b"k"
    stats = bundle.stats
    assert (stats.records, stats.tombstones, stats.dead_letters) == (5, 1, 2)
    assert stats.rows == Counter({"orders": 2}) and stats.row_count == 2
    assert stats.offsets == {(T, 0): 14, (T, 1): 4}
    assert (stats.min_source_ts_ms, stats.max_source_ts_ms) == (5000, 9000)


def test_every_record_has_exactly_one_fate():
    records = [record("customers", row("customers", id=i), offset=i, lsn=i + 1) for i in range(50)]
    records += [raw_record("customers", b"x", offset=50), raw_record("customers", None, offset=51)]
    bundle = process(records)
    fates = bundle.stats.row_count + bundle.stats.dead_letters + bundle.stats.tombstones
    assert fates == bundle.stats.records == len(records)


def test_stats_merge_and_json_round_trip():
    a = StageStats(records=3, rows=Counter({"orders": 2}), offsets={(T, 0): 5}, min_source_ts_ms=2, max_source_ts_ms=7)
    b = StageStats(records=2, dead_letters=1, offsets={(T, 0): 9, (T, 1): 2}, min_source_ts_ms=1, max_source_ts_ms=4)
    merged = StageStats().merge(a).merge(b)
    assert merged.records == 5 and merged.dead_letters == 1
    assert merged.offsets == {(T, 0): 9, (T, 1): 2}
    assert (merged.min_source_ts_ms, merged.max_source_ts_ms) == (1, 7)
    assert StageStats.from_json(merged.to_json()) == merged


def test_chunks_are_bounded_and_lose_nothing():
    parts = list(chunks(range(25), size=10))
    assert [len(p) for p in parts] == [10, 10, 5]
    assert [x for p in parts for x in p] == list(range(25))
