"""The shared slice processing: rows, dead letters, offsets, stats round trip."""

from __future__ import annotations

import json

from aladia_etl.processing.staging import StageStats, process

T = "orders_db.public.orders"


def change(id_, status="paid", lsn=1, op="c"):
    row = {
        "id": id_,
        "customer_id": 1,
        "status": status,
        "total_amount": "1.00",
        "created_at": "2026-11-25T10:00:00Z",
        "updated_at": "2026-11-25T10:00:00Z",
    }
    return json.dumps(
        {
            "before": row if op == "d" else None,
            "after": None if op == "d" else row,
            "source": {"lsn": lsn, "ts_ms": 1000 * lsn, "table": "orders"},
            "op": op,
        }
    ).encode()


def test_process_splits_rows_dead_letters_and_tombstones():
    records = [
        (T, 0, 10, b'{"id":1}', change(1, lsn=5)),
        (T, 0, 11, b'{"id":2}', change(2, status="lost")),
        (T, 0, 12, b'{"id":1}', change(1, lsn=9, op="d")),
        (T, 0, 13, b'{"id":1}', None),
        (T, 1, 3, b"k", b"{broken"),
    ]
    rows, dead, stats = process(records)
    assert [r[0] for r in rows["orders"]] == [1, 1]
    assert [(d.offset, d.reason) for d in dead] == [(11, "status: unknown order status 'lost'"), (3, dead[1].reason)]
    assert dead[1].value == b"{broken" and dead[1].key == b"k"
    assert (stats.records, stats.tombstones, stats.dead_letters) == (5, 1, 2)
    assert stats.rows["orders"] == 2 and stats.row_count == 2
    assert stats.offsets == {(T, 0): 14, (T, 1): 4}
    assert stats.max_source_ts_ms == 9000


def test_stats_merge_and_json_round_trip():
    a = StageStats(
        records=3, rows=__import__("collections").Counter({"orders": 2}), offsets={(T, 0): 5}, max_source_ts_ms=7
    )
    b = StageStats(records=2, dead_letters=1, offsets={(T, 0): 9, (T, 1): 2}, max_source_ts_ms=4)
    merged = StageStats().merge(a).merge(b)
    assert merged.records == 5 and merged.dead_letters == 1
    assert merged.offsets == {(T, 0): 9, (T, 1): 2}
    assert StageStats.from_json(merged.to_json()) == merged
