"""The pane-applying step's ordering: per partition, only chunks that continue the applied position are applied,
in offset order; a chunk ahead of a gap waits for the chunks before it; a replayed chunk is dropped."""

from __future__ import annotations

from aladia_etl.processing.beam.panes import ready_chunks
from aladia_etl.processing.beam.shared import StreamShared
from aladia_etl.processing.model import StreamProgress

T, U = "orders_db.public.orders", "orders_db.public.order_items"


def chunk(topic: str, start: int, end: int) -> dict:
    return {"topic": topic, "partition": 0, "start": start, "end": end, "records": []}


def state(**next_offsets) -> StreamShared:
    s = StreamShared(StreamProgress("beam"), max_outage_s=60)
    s.next_offsets = {(T, 0): next_offsets.get("t", 0), (U, 0): next_offsets.get("u", 0)}
    return s


def ranges(chunks) -> list[tuple[str, int, int]]:
    return [(c["topic"], c["start"], c["end"]) for c in chunks]


def apply(s: StreamShared, chunks) -> list[tuple[str, int, int]]:
    ready = ready_chunks(s, chunks)
    for c in ready:
        s.next_offsets[(c["topic"], c["partition"])] = c["end"]
    return ranges(ready)


def test_in_order_panes_apply_at_once():
    s = state()
    assert apply(s, [chunk(T, 0, 10), chunk(U, 0, 5), chunk(T, 10, 20)]) == [(T, 0, 10), (T, 10, 20), (U, 0, 5)]


def test_a_pane_ahead_of_a_gap_waits_for_the_one_before_it():
    s = state()
    assert apply(s, [chunk(T, 10, 20), chunk(T, 20, 25)]) == []  # 0..10 has not arrived
    assert s.waiting[(T, 0)].keys() == {10, 20}
    assert apply(s, [chunk(T, 0, 10)]) == [(T, 0, 10), (T, 10, 20), (T, 20, 25)]
    assert not s.waiting[(T, 0)]


def test_replayed_chunks_are_dropped():
    s = state(t=100)
    assert apply(s, [chunk(T, 0, 50), chunk(T, 50, 100), chunk(T, 100, 110)]) == [(T, 100, 110)]
    assert apply(s, [chunk(T, 100, 110)]) == []  # the same pane again changes nothing
    assert not s.waiting.get((T, 0))


def test_partitions_are_independent():
    s = state(t=5)
    assert apply(s, [chunk(U, 3, 8), chunk(T, 5, 9)]) == [(T, 5, 9)]  # U waits for 0..3
    assert apply(s, [chunk(U, 0, 3)]) == [(U, 0, 3), (U, 3, 8)]
