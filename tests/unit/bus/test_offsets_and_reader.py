"""Partition offsets, the one lag definition, and reading offset ranges — over a fake Kafka transport."""

from __future__ import annotations

import pytest

from aladia_etl.bus.offsets import PartitionOffsets, lag, partition_offsets
from aladia_etl.bus.reader import read_range
from aladia_etl.core.errors import AladiaError, ServiceUnavailable
from tests.fakes import FakeConsumer

T = "orders_db.public.orders"


def log(n: int, start: int = 0):
    return [(o, b"k", b"v%d" % o) for o in range(start, start + n)]


def test_partition_offsets_list_existing_topics_only():
    consumer = FakeConsumer({(T, 0): log(5), (T, 1): log(3, start=10)}, begin={(T, 1): 10})
    offsets = partition_offsets(consumer, [T, "orders_db.public.missing"])
    assert offsets == [PartitionOffsets(T, 0, 0, 5), PartitionOffsets(T, 1, 10, 13)]
    assert [o.messages for o in offsets] == [5, 3]


def test_lag_counts_only_records_that_exist_and_are_not_applied():
    offsets = [PartitionOffsets(T, 0, 0, 100), PartitionOffsets(T, 1, 50, 80)]
    assert lag(offsets, {}) == 100 + 30  # nothing applied: everything still in the log
    assert lag(offsets, {(T, 0): 90, (T, 1): 60}) == 10 + 20
    assert lag(offsets, {(T, 0): 100, (T, 1): 80}) == 0
    assert lag(offsets, {(T, 0): 120}) == 30  # applied past the end (a recreated topic) is not negative lag


def test_read_range_returns_exactly_the_range_in_bounded_chunks():
    consumer = FakeConsumer({(T, 0): log(100)})
    chunks = list(read_range(consumer, T, 0, 10, 95, chunk_size=20))
    offsets = [r[2] for chunk in chunks for r in chunk]
    assert offsets == list(range(10, 95))
    assert all(len(chunk) <= 40 for chunk in chunks)
    assert chunks[0][0] == (T, 0, 10, b"k", b"v10")


def test_read_range_of_deleted_records_is_an_error_naming_the_range():
    consumer = FakeConsumer({(T, 0): log(10, start=50)}, begin={(T, 0): 50})
    with pytest.raises(AladiaError) as info:
        list(read_range(consumer, T, 0, 20, 60))
    assert f"offsets from 20 of {T}[0]" in str(info.value)


def test_a_broker_that_returns_nothing_is_an_error_after_the_deadline():
    consumer = FakeConsumer({(T, 0): log(5)})
    with pytest.raises(ServiceUnavailable) as info:
        list(read_range(consumer, T, 0, 0, 10, timeout_s=0))  # records 5..9 never arrive
    assert "at offset 5" in str(info.value)


def test_gaps_name_deleted_and_recreated_partitions():
    from aladia_etl.bus.offsets import gaps

    offsets = [PartitionOffsets(T, 0, 100, 200), PartitionOffsets(T, 1, 0, 50), PartitionOffsets(T, 2, 0, 10)]
    found = gaps(offsets, {(T, 0): 40, (T, 1): 50, (T, 2): 25})
    assert [(g.partition, g.kind, g.from_offset, g.resume_at) for g in found] == [
        (0, "deleted", 40, 100),
        (2, "recreated", 25, 0),
    ]
    assert "offsets 40..99 of orders_db.public.orders[0] were deleted" in found[0].describe()
    assert "recreated" in found[1].describe()
    assert gaps([PartitionOffsets(T, 0, 5, 9)], {})[0].from_offset == 0  # never applied, early records gone
    assert gaps(offsets[1:2], {(T, 1): 50}) == []


def test_a_topic_with_another_id_is_a_gap_even_when_it_has_grown_past_the_position():
    from aladia_etl.bus.offsets import gaps

    grown = [PartitionOffsets(T, 0, 0, 500, topic_id="new-id")]
    (gap,) = gaps(grown, {(T, 0): 40}, known_ids={T: "old-id"})
    assert (gap.kind, gap.from_offset, gap.resume_at) == ("new-topic", 40, 0)
    assert "deleted and created again (topic id old-id is now new-id)" in gap.describe()
    assert gaps(grown, {(T, 0): 40}, known_ids={T: "new-id"}) == []  # the same topic
    assert gaps(grown, {}, known_ids={T: "old-id"}) == []  # nothing applied from the old topic


def test_records_deleted_after_they_were_applied_are_no_gap_after_a_rewind():
    """`--from-beginning` moves the position back to 0 and keeps what it had reached (held): retention that removed
    only applied records is no data loss; records deleted beyond what was reached still are."""
    from aladia_etl.bus.offsets import gaps

    moved = [PartitionOffsets(T, 0, 20, 30)]
    assert gaps(moved, {(T, 0): 0}, held={(T, 0): 20}) == []
    assert gaps(moved, {(T, 0): 0}, held={(T, 0): 25}) == []
    (gap,) = gaps(moved, {(T, 0): 0}, held={(T, 0): 12})
    assert (gap.from_offset, gap.resume_at) == (12, 20)
    assert gaps(moved, {(T, 0): 0})[0].from_offset == 0  # without a held position: a gap, as before
