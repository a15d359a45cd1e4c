"""Pure parts of the bench's phases: reading Debezium's source commit time from a record's value."""

from __future__ import annotations

import json

import pytest

from aladia_etl.flows.bench.phases import _source_ts_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (json.dumps({"op": "c", "source": {"ts_ms": 1700}}).encode(), 1700),  # schemaless JSON
        (json.dumps({"schema": {}, "payload": {"op": "u", "source": {"ts_ms": 1800}}}).encode(), 1800),  # envelope
        (None, None),  # a tombstone
        (b"", None),
        (b"not json", None),
        (b"[1, 2]", None),
        (json.dumps({"source": None}).encode(), None),
        (json.dumps({"source": {"ts_ms": "1700"}}).encode(), None),
        (json.dumps({"source": {"ts_ms": True}}).encode(), None),
        (json.dumps({"payload": None, "source": {"ts_ms": 5}}).encode(), 5),
    ],
)
def test_the_source_commit_time_is_read_or_the_record_skipped(value, expected):
    assert _source_ts_ms(value) == expected
