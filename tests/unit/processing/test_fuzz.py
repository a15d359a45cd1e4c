"""Property: whatever Kafka records hold, `process` gives each one exactly one fate, every row it makes fits the
warehouse's column types, and every dead letter has a storable reason — and the explicit checks handle it all
(no record reaches the safety net).

The records: random bytes, random JSON, tombstones, and mostly valid Debezium envelopes with fields replaced by
random JSON of any type, edge values of the column's own type, or raw JSON text that Python cannot write (number
literals of any size, NaN, nesting past the parser's limit, escaped lone surrogates, invalid UTF-8).
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aladia_etl.processing.bundle import process
from aladia_etl.source.schema import ORDER_STATUSES
from aladia_etl.warehouse.schema import COLUMNS, LINEAGE, LINEAGE_TYPES, TYPES
from tests.factories import POISON, ROWS, UNAVAILABLE, envelope, row, spliced, topic

EXAMPLES = 2_000
SHARDS = 4  # independent runs of EXAMPLES / SHARDS each: the unit loop spreads them over its workers
RECORDS_PER_EXAMPLE = 50
TABLES = sorted(ROWS)

# -- the checker: what PostgreSQL stores, stated independently of the code under test ----------------------------
INT_LIMITS = {"BIGINT": (-(2**63), 2**63 - 1), "INTEGER": (-(2**31), 2**31 - 1)}
# Storable (PostgreSQL: 4713 BC..294276 AD, zone offsets up to ±15:59) and readable back into Python (years
# 1..9999) in any session time zone.
TS_LOW = datetime(1, 1, 1, tzinfo=UTC) + timedelta(hours=16)
TS_HIGH = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - timedelta(hours=16)


def storable_text(value: object) -> bool:
    if type(value) is not str or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fits(sql_type: str, value: object) -> bool:
    if sql_type in INT_LIMITS:
        low, high = INT_LIMITS[sql_type]
        return type(value) is int and low <= value <= high
    if sql_type == "NUMERIC(12,2)":
        return (
            type(value) is Decimal
            and value.is_finite()
            and value.as_tuple().exponent == -2
            and abs(value) < Decimal(10) ** 10
        )
    if sql_type == "TEXT":
        return storable_text(value)
    if sql_type == "DATE":
        return type(value) is date  # a date is always within both ranges
    if sql_type == "TIMESTAMPTZ":
        if type(value) is not datetime or value.utcoffset() is None:
            return False
        return abs(value.utcoffset()) < timedelta(hours=16) and TS_LOW <= value <= TS_HIGH
    if sql_type == "BOOLEAN":
        return type(value) is bool
    raise AssertionError(f"the checker knows no {sql_type}")


def check_row(table: str, values: tuple) -> None:
    names = COLUMNS[table] + LINEAGE
    assert len(values) == len(names)
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        sql_type = TYPES.get(name) or LINEAGE_TYPES[name]
        if value is None and i > 0 and name not in LINEAGE:
            continue  # nullable (the key and the lineage are NOT NULL)
        assert fits(sql_type, value), f"{table}.{name} {sql_type}: {value!r}"


def check_bundle(records: list, bundle) -> None:
    fates: dict[int, str] = {}
    for table, rows in bundle.rows.items():
        for values in rows:
            check_row(table, values)
            offset = values[-1]
            assert offset not in fates
            fates[offset] = "row"
            assert values[-3] == records[offset][0]  # kafka_topic
    for dead in bundle.dead:
        assert dead.offset not in fates
        fates[dead.offset] = "dead"
        assert dead.reason and storable_text(dead.reason) and len(dead.reason) <= 500, repr(dead.reason)
        assert dead.value == records[dead.offset][4]
    tombstones = [offset for offset, record in enumerate(records) if record[4] is None]
    for offset in tombstones:
        assert offset not in fates
        fates[offset] = "tombstone"
    assert sorted(fates) == list(range(len(records)))  # each record exactly one fate
    stats = bundle.stats
    assert stats.records == len(records) and stats.tombstones == len(tombstones)
    assert stats.row_count + stats.dead_letters + stats.tombstones == len(records)
    unexpected = [d.reason for d in bundle.dead if d.reason.startswith("unexpected ")]
    assert bundle.unexpected == len(unexpected) == 0, unexpected


# -- generators ------------------------------------------------------------------------------------------------
EDGE_INTS = [0, -1, 1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]
EDGE_INTS += [2**64 - 1, 2**64, 10**20, -(10**20), 10**400, 253_402_214_399_999, 253_402_300_800_000]
EDGE_INTS += [-62_135_510_400_000, -62_135_596_800_001, 253_402_214_399_999_999, -62_135_510_400_000_000]
EDGE_STRINGS = ["", " ", "\t\n", "²", "١٢٣", "--5", "-", "+5", "1_000", " 42 ", "0x10", "\x00", "a\x00b", "\ud800"]
EDGE_STRINGS += [
    "\udfff@x.io",
    "é",
    "\U0001d7d9",
    "İ",
    "ß",
    UNAVAILABLE,
    "1e400",
    "-1e400",
    "1E+2",
    "NaN",
    "sNaN",
    "Inf",
]
EDGE_STRINGS += ["-Infinity", "-0", "-0.00", "0.001", "9999999999.99", "9999999999.995", "10000000000", "1E-999999999"]
EDGE_STRINGS += [
    "1e999999999",
    "0." + "0" * 40 + "1",
    "9" * 5000,
    "1" + "0" * 19,
    "0" * 25 + "7",
    "-9223372036854775808",
]
EDGE_STRINGS += ["10000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "9999-12-30T23:59:59-15:59"]
EDGE_STRINGS += ["0001-01-01T00:00:00Z", "0001-01-02T00:00:00+23:59", "2026-11-20T10:00:00+23:59", "2026-11-20"]
EDGE_STRINGS += ["2026-11-20T10:00:00-23:59:59.999999", "2026-W47-5", "20261120T100000Z", "2026-11-20T10:00:00Zx"]
EDGE_STRINGS += [*ORDER_STATUSES, " PAID ", "Paid\x00", "ada@example.com", "a@b.c", "c", "u", "d", "r", *TABLES]
EDGE_STRINGS += ["shipments", "public.orders", "orders\x00"]
RAW_LITERALS = [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity", b"9" * 10_000, b"-" + b"9" * 400, b"1e-400"]
RAW_LITERALS += [b"-0", b"0.1e1", b"1E2", b"18446744073709551615", b"18446744073709551616", b"-9223372036854775809"]
RAW_LITERALS += [b'"\\ud800"', b'"\\u0000"', b'"\\udfff\\ud800"', b'"\xed\xa0\x80"', b'"\xff"', b"\xff", b"tru", b""]
RAW_LITERALS += [b"[" * 2000 + b"]" * 2000, b'{"a":' * 1100 + b"1" + b"}" * 1100, b"[" * 900 + b"]" * 900]
RAW_LITERALS += [b"1.0", b"1.5", b"100", b'"1"', b"null", b"true", b"{}", b"[]"]
OFFSETS = st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))
DATETIMES = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), timezones=st.none() | OFFSETS)

COLUMN_NAMES = sorted({name for image in ROWS.values() for name in image})
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
timestamps = st.one_of(
    DATETIMES.map(datetime.isoformat),
    DATETIMES.map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.integers(-(2**64), 2**64),  # MicroTimestamp
)
numbers = st.one_of(
    st.integers(),
    st.integers(-(2**64), 2**64).map(str),
    st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2).map(str),
    st.decimals().map(str),
    st.floats(),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EDGE_INTS),
    st.sampled_from(EDGE_STRINGS),
    any_text,
    numbers,
    timestamps,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text | st.sampled_from(COLUMN_NAMES), inner),
    max_leaves=6,
)
RAW = "<RAW>"
DELETE = object()

# Where a replacement goes: (container, key) in the envelope; "image" is the row image the event carries.
TARGETS = [("top", k) for k in ("op", "before", "after", "source", "payload", "schema")]
TARGETS += [("source", k) for k in ("table", "lsn", "ts_ms", "txId")]
TARGETS += [("image", k) for k in COLUMN_NAMES] * 3  # mostly the row's own values


def dumps(data: object, rng: random.Random) -> bytes:
    """As a producer might write it: compact or not; ensure_ascii=False lets lone surrogates through as invalid
    UTF-8."""
    if rng.random() < 0.3:
        return json.dumps(data, separators=(",", ":")).encode()  # compact: the schema-block fast path
    return json.dumps(data, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def typed_value(rng: random.Random) -> object:
    """A value of a column's own kind, near or past what the warehouse stores."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(EDGE_INTS) + rng.randint(-2, 2)
    if kind == 1:
        return str(rng.randint(-(2**64), 2**64)) if rng.random() < 0.5 else rng.randint(-(2**33), 2**33)
    if kind == 2:  # a timestamp string anywhere in the years 1..9999, at any offset Python accepts
        moment = datetime(1, 1, 1) + timedelta(microseconds=rng.randrange(315_537_897_600_000_000))
        offset = timezone(timedelta(minutes=rng.randint(-1439, 1439))) if rng.random() < 0.7 else None
        return moment.replace(tzinfo=offset).isoformat()
    if kind == 3:  # MicroTimestamp
        return rng.randint(-(2**64), 2**64) if rng.random() < 0.3 else rng.randint(-(2**58), 2**58)
    if kind == 4:  # money
        return f"{rng.choice(['', '-'])}{rng.randint(0, 10 ** rng.randint(0, 14))}.{rng.randint(0, 999)}"
    return rng.choice(EDGE_STRINGS)


def place(value: object) -> object:
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


def mutated_envelope(rng: random.Random, palette: list, raws: list[bytes]) -> bytes:
    table = rng.choice(TABLES)
    op = rng.choice("cudr")
    data = envelope(table, row(table), op=op, lsn=rng.randint(0, 2**63 - 1), ts_ms=rng.randint(-(2**45), 2**45))
    image = data["before"] if op == "d" else data["after"]
    raw = None
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        where, key = rng.choice(TARGETS)
        pick = rng.random()
        if pick < 0.45:
            new = place(rng.choice(palette))
        elif pick < 0.9:
            new = typed_value(rng)
        elif pick < 0.95:
            new, raw = RAW, rng.choice(raws)
        else:
            new = DELETE
        container = {"top": data, "source": data.get("source"), "image": image}[where]
        if not isinstance(container, dict):
            continue  # replaced by an earlier mutation
        if new is DELETE:
            container.pop(key, None)
        else:
            container[key] = new
    if rng.random() < 0.3:  # JsonConverter with schemas.enable=true
        data = {"schema": {"type": "struct", "optional": False}, "payload": data}
    return spliced(data, raw, RAW) if raw is not None else dumps(data, rng)


def value(rng: random.Random, palette: list, raws: list[bytes]) -> bytes | None:
    kind = rng.random()
    if kind < 0.75:
        return mutated_envelope(rng, palette, raws)
    if kind < 0.85:
        return dumps(rng.choice(palette), rng)  # any JSON document
    if kind < 0.92:
        return rng.randbytes(rng.randrange(64))
    if kind < 0.96:
        return rng.choice(POISON_VALUES)
    return None  # a tombstone


POISON_VALUES = list(POISON.values())


@st.composite
def batches(draw) -> list:
    """RECORDS_PER_EXAMPLE records. Hypothesis draws the ingredients (values of any JSON type and raw literals)
    and a seed; a seeded Random assembles the records from them. Drawing every record through Hypothesis costs
    ~3 ms a record, too slow for 100,000 records in a unit test."""
    palette = draw(st.lists(json_values, min_size=1, max_size=6))
    raws = draw(st.lists(st.sampled_from(RAW_LITERALS), min_size=1, max_size=3))
    rng = random.Random(draw(st.integers(0, 2**64 - 1)))
    return [
        (topic(rng.choice(TABLES)), rng.randrange(2**31), offset, rng.choice((None, b"k")), value(rng, palette, raws))
        for offset in range(RECORDS_PER_EXAMPLE)
    ]


@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_record_can_stop_the_stream_and_every_row_fits_the_warehouse(shard):
    seen = {"records": 0, "rows": 0, "dead": 0, "tombstones": 0, "unexpected": 0}

    @settings(
        max_examples=EXAMPLES // SHARDS,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(batches())
    def check(batch):
        bundle = process(batch)
        seen["records"] += len(batch)
        seen["rows"] += bundle.stats.row_count
        seen["dead"] += len(bundle.dead)
        seen["tombstones"] += bundle.stats.tombstones
        seen["unexpected"] += bundle.unexpected
        check_bundle(batch, bundle)

    check()
    assert seen["records"] >= EXAMPLES // SHARDS * RECORDS_PER_EXAMPLE, seen
    assert seen["unexpected"] == 0, seen
    assert min(seen["rows"], seen["dead"], seen["tombstones"]) > 0, seen  # every fate was exercised
