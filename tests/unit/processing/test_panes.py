"""The Beam engine's reorder buffer (`warehouse.chunks.ready`): per partition, only chunks that continue the
warehouse's offsets are applied, in offset order; a chunk ahead of a gap waits for the chunks before it; a chunk the
offsets have passed is dropped; two cuts of one range never both apply."""

from __future__ import annotations

from aladia_etl.warehouse.chunks import Chunk, chunk_token, ready

T, U = "orders_db.public.orders", "orders_db.public.order_items"


def chunk(topic: str, start: int, end: int) -> Chunk:
    return Chunk(chunk_token("beam", "s", "run", topic, 0, start, end), topic, 0, start, end, end - start, "w")


def ranges(chunks) -> list[tuple[str, int, int]]:
    return [(c.topic, c.start, c.end) for c in chunks]


def test_in_order_chunks_apply_at_once():
    take, drop = ready([chunk(T, 0, 10), chunk(U, 0, 5), chunk(T, 10, 20)], {})
    assert ranges(take) == [(U, 0, 5), (T, 0, 10), (T, 10, 20)] and drop == []


def test_a_chunk_ahead_of_a_gap_waits_for_the_one_before_it():
    waiting = [chunk(T, 10, 20), chunk(T, 20, 25)]
    assert ready(waiting, {}) == ([], [])  # 0..10 has not arrived: nothing applied, nothing dropped
    take, _ = ready([*waiting, chunk(T, 0, 10)], {})
    assert ranges(take) == [(T, 0, 10), (T, 10, 20), (T, 20, 25)]


def test_chunks_the_offsets_passed_are_dropped():
    take, drop = ready([chunk(T, 0, 50), chunk(T, 50, 100), chunk(T, 100, 110), chunk(T, 90, 105)], {(T, 0): 100})
    assert ranges(take) == [(T, 100, 110)]
    assert sorted(ranges(drop)) == [(T, 0, 50), (T, 50, 100), (T, 90, 105)]


def test_partitions_are_independent():
    take, _ = ready([chunk(U, 3, 8), chunk(T, 5, 9)], {(T, 0): 5})
    assert ranges(take) == [(T, 5, 9)]  # U waits for 0..3


def test_of_two_cuts_of_one_range_the_one_that_continues_is_taken_and_the_other_dropped():
    take, drop = ready([chunk(T, 0, 30), chunk(T, 0, 20), chunk(T, 20, 40)], {})
    assert ranges(take) == [(T, 0, 20), (T, 20, 40)] and ranges(drop) == [(T, 0, 30)]
    take, drop = ready([chunk(T, 0, 30), chunk(T, 0, 20)], {})
    assert ranges(take) == [(T, 0, 30)] and ranges(drop) == [(T, 0, 20)]  # no continuation known: the longer


def test_a_chunk_that_straddles_the_offset_continues_it():
    """The warehouse's offset inside a chunk (another stream of the engine applied part of it): the chunk is applied
    whole — its records before the offset change nothing, the merge keeps the newest change per key — never left
    waiting for a chunk that starts exactly there, which would never come."""
    take, drop = ready([chunk(T, 90, 120), chunk(T, 120, 130), chunk(T, 40, 95)], {(T, 0): 100})
    assert ranges(take) == [(T, 90, 120), (T, 120, 130)] and ranges(drop) == [(T, 40, 95)]
