"""Validation, cleansing and mapping to warehouse rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aladia_etl.core.errors import RecordError
from aladia_etl.processing.transform import transform
from aladia_etl.warehouse.rows import UNAVAILABLE, to_int, to_money, to_timestamp
from aladia_etl.warehouse.schema import COLUMNS, LINEAGE, TIMESTAMP_RANGE
from tests.factories import event

CUSTOMER = {
    "id": 1,
    "name": "  Ada   Lovelace ",
    "email": " Ada.Lovelace@Example.COM ",
    "country": "gb",
    "notes": "x" * 10,
    "created_at": "2026-11-25T10:00:00Z",
    "updated_at": "2026-11-25T10:00:00.5Z",
}
PRODUCT = {
    "id": 2,
    "name": "Lamp",
    "category": "Home",
    "price": "19.90",
    "created_at": "2026-11-25T10:00:00Z",
    "updated_at": "2026-11-25T10:00:00Z",
}
ORDER = {
    "id": 3,
    "customer_id": 1,
    "status": "PAID ",
    "total_amount": "39.80",
    "created_at": "2026-11-25T23:30:00-02:00",
    "updated_at": "2026-11-26T01:30:00Z",
}
ITEM = {
    "id": 4,
    "order_id": 3,
    "product_id": 2,
    "quantity": 2,
    "unit_price": "19.90",
    "created_at": "2026-11-25T10:00:00Z",
    "updated_at": "2026-11-25T10:00:00Z",
}


def test_customer_is_cleansed():
    table, row = transform(event("customers", CUSTOMER))
    assert table == "customers"
    values = dict(zip(COLUMNS["customers"] + LINEAGE, row, strict=True))
    assert values["name"] == "Ada Lovelace"
    assert values["email"] == "ada.lovelace@example.com"
    assert values["country"] == "GB"
    assert values["updated_at"] == datetime(2026, 11, 25, 10, 0, 0, 500000, tzinfo=UTC)
    assert values["is_deleted"] is False and values["source_lsn"] == 10
    assert values["source_ts"] == datetime(2025, 11, 25, 10, 0, tzinfo=UTC)
    assert (values["kafka_topic"], values["kafka_partition"], values["kafka_offset"]) == (
        "orders_db.public.customers",
        0,
        42,
    )


def test_unknown_columns_are_ignored():
    _, row = transform(event("products", {**PRODUCT, "loyalty_tier": "gold"}))
    assert len(row) == len(COLUMNS["products"]) + len(LINEAGE)


def test_order_status_is_normalised_and_the_day_is_utc():
    _, row = transform(event("orders", ORDER))
    values = dict(zip(COLUMNS["orders"], row, strict=False))
    assert values["status"] == "paid"
    assert values["total_amount"] == Decimal("39.80")
    assert values["order_date"] == date(2026, 11, 26)  # 23:30 at -02:00 is 01:30 UTC the next day


def test_item_maps():
    _, row = transform(event("order_items", ITEM))
    assert row[:5] == (4, 3, 2, 2, Decimal("19.90"))


def test_delete_keeps_values_when_valid_and_only_the_key_otherwise():
    _, row = transform(event("orders", ORDER, op="d", lsn=99))
    assert row[0] == 3 and row[2] == "paid" and row[len(COLUMNS["orders"])] is True
    _, partial = transform(event("orders", {"id": 3}, op="d"))
    assert partial[: len(COLUMNS["orders"])] == (3, None, None, None, None, None, None)
    with pytest.raises(RecordError):
        transform(event("orders", {"status": "paid"}, op="d"))  # not even a key


@pytest.mark.parametrize(
    ("table", "row", "reason"),
    [
        ("orders", {**ORDER, "status": "teleported"}, "unknown order status"),
        ("orders", {**ORDER, "status": None}, "missing field status"),
        ("orders", {**ORDER, "total_amount": "-0.01"}, "negative amount"),
        ("orders", {**ORDER, "total_amount": "abc"}, "not a decimal"),
        ("orders", {**ORDER, "total_amount": "NaN"}, "not a finite number"),
        ("orders", {**ORDER, "total_amount": "1.234"}, "more than 2 decimal places"),
        ("orders", {**ORDER, "total_amount": "10000000000.00"}, "does not fit NUMERIC(12,2)"),
        ("orders", {**ORDER, "total_amount": 1.5}, "expected a decimal string"),
        ("orders", {**ORDER, "customer_id": "x1"}, "customer_id: expected an integer"),
        ("orders", {**ORDER, "customer_id": True}, "customer_id: expected an integer, got a boolean"),
        ("orders", {k: v for k, v in ORDER.items() if k != "id"}, "missing field id"),
        ("orders", {**ORDER, "created_at": "last tuesday"}, "not an ISO-8601 timestamp"),
        ("orders", {**ORDER, "created_at": [2026]}, "expected a timestamp"),
        ("order_items", {**ITEM, "quantity": 0}, "must be positive"),
        ("order_items", {**ITEM, "quantity": "2.5"}, "expected an integer"),
        ("customers", {**CUSTOMER, "email": "not-an-email"}, "is not an e-mail address"),
        ("customers", {**CUSTOMER, "name": "   "}, "name: empty"),
        ("customers", {**CUSTOMER, "name": 12}, "expected text"),
        ("products", {**PRODUCT, "price": "-1.00"}, "negative amount"),
        ("shipments", {"id": 1}, "no warehouse mapping"),
    ],
)
def test_invalid_rows_are_rejected_with_a_reason(table, row, reason):
    with pytest.raises(RecordError) as info:
        transform(event(table, row))
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "0.00"),
        ("0.00", "0.00"),
        ("1.5", "1.50"),
        ("9999999999.99", "9999999999.99"),
        (7, "7.00"),
        ("1E+2", "100.00"),
        (Decimal("3.10"), "3.10"),
    ],
)
def test_numeric_edge_cases(text, expected):
    assert str(to_money(text, "x")) == expected


def test_timestamp_forms():
    assert to_timestamp(0, "t") == datetime(1970, 1, 1, tzinfo=UTC)
    assert to_timestamp(1_500_000, "t") == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)  # MicroTimestamp
    assert to_timestamp("2026-01-02T03:04:05", "t").tzinfo is UTC  # naive → UTC
    assert to_timestamp(datetime(2026, 1, 1), "t").tzinfo is UTC
    with pytest.raises(RecordError):
        to_timestamp(True, "t")


def test_timestamps_are_staged_in_utc_even_at_offsets_postgresql_refuses():
    moment = to_timestamp("2026-11-25T20:00:00+20:00", "t")  # PostgreSQL accepts offsets up to ±15:59 only
    assert moment == datetime(2026, 11, 25, 0, 0, tzinfo=UTC) and moment.tzinfo is UTC
    assert to_timestamp(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3))), "t").tzinfo is UTC


def test_timestamp_limits_are_exact():
    low, high = TIMESTAMP_RANGE
    assert to_timestamp(low.isoformat(), "t") == low and to_timestamp(high.isoformat(), "t") == high
    for outside in (low - timedelta(microseconds=1), high + timedelta(microseconds=1)):
        with pytest.raises(RecordError, match="is outside"):
            to_timestamp(outside.isoformat(), "t")
    micros = (high - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert to_timestamp(micros, "t") == high
    with pytest.raises(RecordError, match="microseconds since 1970 is outside"):
        to_timestamp(micros + 1, "t")


@pytest.mark.parametrize(
    ("value", "sql_type", "expected"),
    [
        (2**63 - 1, "BIGINT", 2**63 - 1),
        (-(2**63), "BIGINT", -(2**63)),
        ("-9223372036854775808", "BIGINT", -(2**63)),
        (" 42 ", "BIGINT", 42),
        ("0" * 25 + "7", "BIGINT", 7),
        ("١٢", "BIGINT", 12),  # decimal digits of any script, as int() reads them
        (2**31 - 1, "INTEGER", 2**31 - 1),
        (-(2**31), "INTEGER", -(2**31)),
    ],
)
def test_integers_up_to_the_column_limits(value, sql_type, expected):
    assert to_int(value, "n", sql_type) == expected


@pytest.mark.parametrize(
    ("value", "sql_type", "reason"),
    [
        (2**63, "BIGINT", "does not fit BIGINT"),
        (-(2**63) - 1, "BIGINT", "does not fit BIGINT"),
        ("9" * 5_000, "BIGINT", "does not fit BIGINT"),
        (2**31, "INTEGER", "does not fit INTEGER"),
        (-(2**31) - 1, "INTEGER", "does not fit INTEGER"),
        ("²", "BIGINT", "expected an integer"),
        ("--5", "BIGINT", "expected an integer"),
        ("-", "BIGINT", "expected an integer"),
        (1.0, "BIGINT", "expected an integer"),
    ],
)
def test_integers_past_the_column_limits(value, sql_type, reason):
    with pytest.raises(RecordError, match=reason):
        to_int(value, "n", sql_type)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1e400", "does not fit NUMERIC"),
        ("1E-999999999", "more than 2 decimal places"),
        ("sNaN", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("9" * 5_000, "does not fit NUMERIC"),
    ],
)
def test_amounts_past_numeric_12_2(value, reason):
    with pytest.raises(RecordError, match=reason):
        to_money(value, "x")


def test_text_that_postgresql_cannot_store_is_rejected():
    with pytest.raises(RecordError, match="name: contains a NUL character"):
        transform(event("customers", {**CUSTOMER, "name": "Ada\x00"}))
    # orjson refuses lone surrogates, but the mapping also serves `verify` and str values
    with pytest.raises(RecordError, match=r"email: .* is not valid Unicode"):
        transform(event("customers", {**CUSTOMER, "email": "\ud800@example.com"}))


def test_the_toast_placeholder_is_never_stored():
    toasted = {**CUSTOMER, "name": UNAVAILABLE}
    with pytest.raises(RecordError, match="name: unavailable value"):
        transform(event("customers", toasted))
    _, row = transform(event("customers", toasted, op="d"))  # a delete keeps its key, the rest NULL
    assert row[: len(COLUMNS["customers"])] == (1, None, None, None, None, None)
