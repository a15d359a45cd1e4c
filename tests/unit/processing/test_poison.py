"""Hostile records, one kind at a time (tests/factories.py POISON): each becomes a dead letter whose reason names
the problem, and none stops the bundle or reaches the safety net."""

from __future__ import annotations

from collections import Counter

import pytest

from aladia_etl.core.errors import quote
from aladia_etl.processing import bundle as bundle_module
from aladia_etl.processing.bundle import process
from aladia_etl.warehouse.staging import REASON_LIMIT, DeadLetter, storable_reason
from tests.factories import POISON, POISON_REASONS, poison_records, raw_record, record, row


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(text) and "\x00" not in text and len(text) <= REASON_LIMIT


def test_the_poison_catalogue_is_complete():
    assert POISON.keys() == POISON_REASONS.keys()
    assert len(POISON) >= 15


@pytest.mark.parametrize("kind", sorted(POISON))
def test_each_poison_kind_becomes_a_dead_letter_naming_the_problem(kind):
    bundle = process([raw_record("orders", POISON[kind], offset=7, key=b"k")])
    assert bundle.unexpected == 0
    assert not any(bundle.rows.values()) and bundle.stats.tombstones == 0
    [dead] = bundle.dead
    assert POISON_REASONS[kind] in dead.reason, dead.reason
    assert storable(dead.reason)
    assert (dead.offset, dead.key, dead.value) == (7, b"k", POISON[kind])  # the original bytes, kept


def test_a_thousand_poison_records_among_valid_ones_leave_the_valid_ones_alone():
    poison = poison_records(1_000, start=0)
    valid = [record("orders", row("orders", id=i), offset=1_000 + i, lsn=i + 1) for i in range(100)]
    bundle = process(poison + valid)
    assert bundle.unexpected == 0
    assert len(bundle.dead) == 1_000 and [r[0] for r in bundle.rows["orders"]] == list(range(100))
    kinds = Counter(next(k for k in POISON if POISON[k] == r[4]) for r in poison)
    assert len(kinds) == len(POISON) >= 15


def test_the_safety_net_turns_an_unforeseen_error_into_that_record_s_dead_letter(monkeypatch):
    real = bundle_module.transform_all

    def buggy(event, mappers=None):
        if event.offset == 1:
            raise ZeroDivisionError("division by zero \x00 \ud800")
        return real(event, mappers)

    monkeypatch.setattr(bundle_module, "transform_all", buggy)
    # its warning carries the lone surrogate, which pytest-xdist cannot send from a worker (the unit loop runs -n 2)
    monkeypatch.setattr(bundle_module.log, "disabled", True)
    records = [record("orders", row("orders", id=i), offset=i, lsn=i + 1) for i in range(3)]
    bundle = process(records)
    assert bundle.unexpected == 1
    assert [r[0] for r in bundle.rows["orders"]] == [0, 2]
    [dead] = bundle.dead
    assert dead.offset == 1 and dead.reason.startswith("unexpected ZeroDivisionError: division by zero")
    assert storable(dead.reason)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("plain", "plain"),
        ("nul \x00 here", "nul \\x00 here"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("", "rejected (no reason given)"),
        ("é ok", "é ok"),
    ],
)
def test_reasons_are_storable_text(reason, expected):
    assert storable_reason(reason) == expected
    assert DeadLetter("t", 0, 0, reason, None, None).reason == expected


def test_long_reasons_are_cut():
    cut = storable_reason("x" * 10_000)
    assert len(cut) == REASON_LIMIT and cut.endswith("…")


def test_quote_is_short_and_never_fails():
    assert quote("paid") == "'paid'"
    assert quote("a\x00b") == "'a\\x00b'"
    long = quote("y" * 1_000)
    assert len(long) < 100 and "1000 characters" in long
    deep: list = []
    for _ in range(5_000):
        deep = [deep]
    assert quote(deep) == "a list of 1 item"  # repr would raise RecursionError
    assert quote({"a": 1, "b": 2}) == "an object of 2 keys"
    assert quote(10**10_000) == "an integer of 33220 bits"  # str() refuses more than 4300 digits
    assert quote(2**63) == "9223372036854775808"
    assert quote(float("nan")) == "nan" and quote(None) == "None"
