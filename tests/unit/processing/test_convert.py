"""Mirror converters: what Debezium sends for each kind of column (with the connector's settings) → the value the
warehouse stores; a value it cannot store is a RecordError with the reason (a dead letter), never anything else."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from aladia_etl.core.errors import RecordError
from aladia_etl.warehouse.convert import kind_converter
from aladia_etl.warehouse.row_mapping import row_mapper
from aladia_etl.warehouse.sinks import Sink, SinkColumn


def convert(kind: str, value, sql_type: str = "", rules=None):
    return kind_converter(kind, "c", sql_type or kind, rules or {})(value)


@pytest.mark.parametrize(
    ("kind", "sent", "stored"),
    [
        ("int2", -32768, -32768),
        ("int4", 2147483647, 2147483647),
        ("int8", -(2**63), -(2**63)),
        ("numeric", "123456789012.123456", Decimal("123456789012.123456")),
        ("bool", False, False),
        ("text", "héllo 🌍", "héllo 🌍"),
        ("text", "", ""),  # a mirror keeps an empty string (the model's squeeze rejects it)
        ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("date", -719162, date(1, 1, 1)),
        ("date", 2932896, date(9999, 12, 31)),
        ("time", 0, time(0, 0)),
        ("time", 45_296_789_012, time(12, 34, 56, 789012)),
        ("time", 86_400_000_000, "24:00:00"),
        ("timetz", "08:00:00Z", time(8, 0, tzinfo=UTC)),
        ("timestamptz", "1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=UTC)),
        ("interval", "P1Y2M3DT4H5M6.789S", "P1Y2M3DT4H5M6.789S"),
        ("json", '{"b": 1,  "a": [1]}', '{"b": 1,  "a": [1]}'),
        ("jsonb", "null", "null"),
        ("bytea", "AP8Q", b"\x00\xff\x10"),
        ("bytea", "", b""),
        ("array:int4", [1, None, 3], [1, None, 3]),
        ("array:text", [], []),
    ],
)
def test_each_kind_arrives_as_the_warehouse_value(kind, sent, stored):
    assert convert(kind, sent) == stored


def test_floats_keep_nan_infinities_and_their_extremes():
    assert math.isnan(convert("float8", "NaN"))
    assert convert("float8", "Infinity") == math.inf and convert("float4", "-Infinity") == -math.inf
    assert convert("float8", 5e-324) == 5e-324 and convert("float4", 1.17549435e-38) == 1.17549435e-38
    assert math.copysign(1, convert("float8", -0.0)) == -1
    with pytest.raises(RecordError, match="does not fit REAL"):
        convert("float4", 1e39)


def test_timestamps_follow_their_precision():
    assert convert("timestamp", -62135596800000000, "timestamp without time zone") == datetime(1, 1, 1)
    assert convert("timestamp", 1_000, "timestamp(3) without time zone") == datetime(1970, 1, 1, 0, 0, 1)
    assert convert("timestamp", 1_000, "timestamp(6) without time zone") == datetime(1970, 1, 1, 0, 0, 0, 1000)


def test_a_mirror_numeric_keeps_nan_and_infinity_a_model_does_not():
    assert convert("numeric", "NaN", "numeric", {"finite": False}).is_nan()
    assert convert("array:numeric", ["Infinity", "-Infinity"], "numeric[]", {"finite": False}) == [
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ]
    with pytest.raises(RecordError, match="not a finite number"):
        convert("numeric", "NaN", "numeric(12,2)")


@pytest.mark.parametrize(
    ("kind", "sent", "reason"),
    [
        ("int2", 32768, "does not fit SMALLINT"),
        ("bool", "true", "expected true or false"),
        ("uuid", "not-a-uuid", "is not a UUID"),
        ("date", 10**10, "outside the years 1-9999"),
        ("time", -1, "expected microseconds since midnight"),
        ("timestamp", 2**62, "outside the years 1-9999"),
        ("json", "{broken", "is not JSON"),
        ("jsonb", '{"a": "\\u0000"}', "refuses"),
        ("bytea", "!!", "is not base64"),
        ("text", "a\x00b", "NUL"),
        ("array:int4", 5, "expected an array"),
        ("interval", 5, "expected an ISO-8601 interval"),
    ],
)
def test_what_the_warehouse_cannot_store_is_a_record_error(kind, sent, reason):
    with pytest.raises(RecordError, match=reason):
        convert(kind, sent, "timestamp without time zone" if kind == "timestamp" else "")


def test_a_mapper_reads_odd_names_from_its_namespace_not_its_code():
    """Column names are data: quotes, newlines and code in them change nothing but the lookup."""
    odd = ["Some Value", 'quo"te', "new\nline", "__import__('os')", "x) or (1"]
    sink = Sink(
        "s",
        "public",
        "t",
        "mirror",
        "t",
        "aladia_staging",
        "t",
        tuple(SinkColumn(n, n, "text", "text", required=(i == 0)) for i, n in enumerate(odd)),
        (odd[0],),
    )
    mapper = row_mapper(sink)
    assert mapper({n: f"v{i}" for i, n in enumerate(odd)}) == tuple(f"v{i}" for i in range(len(odd)))
    with pytest.raises(RecordError, match="missing field Some Value"):
        mapper({n: None for n in odd})


def test_a_zoned_time_with_an_offset_is_kept_with_it():
    assert convert("timetz", "10:00:00+02:00") == time(10, 0, tzinfo=timezone(timedelta(hours=2)))


def test_debezium_writes_a_numerics_special_values_its_own_way():
    assert convert("numeric", "NAN", "numeric", {"finite": False}).is_nan()
    assert convert("numeric", "POSITIVE_INFINITY", "numeric", {"finite": False}) == Decimal("Infinity")
    assert convert("numeric", "NEGATIVE_INFINITY", "numeric", {"finite": False}) == Decimal("-Infinity")


def test_a_mirror_column_missing_from_the_event_is_not_a_null():
    """Debezium leaves out a column whose type it cannot send (interval[]): storing NULL would be a silent change."""
    sink = Sink(
        "s",
        "public",
        "t",
        "mirror",
        "t",
        "aladia_staging",
        "t",
        (SinkColumn("id", "id", "integer", "int4", True), SinkColumn("x", "x", "text", "text")),
        ("id",),
    )
    assert row_mapper(sink)({"id": 1, "x": None}) == (1, None)
    with pytest.raises(RecordError, match="x: not in the change event"):
        row_mapper(sink)({"id": 1})
