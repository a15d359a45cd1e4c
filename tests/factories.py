"""Builders shared by the tests: source row images, Debezium change envelopes, Kafka records, change events.

One place for the shape of a Debezium record, so that a test states only what it is about.
"""

from __future__ import annotations

import json
from typing import Any

from aladia_etl.processing.events import ChangeEvent

TOPIC_PREFIX = "orders_db"
DAY1 = "2026-11-20T10:00:00Z"

ROWS: dict[str, dict[str, Any]] = {
    "customers": {
        "id": 1,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "country": "GB",
        "created_at": DAY1,
        "updated_at": DAY1,
    },
    "products": {"id": 1, "name": "Lamp", "category": "Home", "price": "19.90", "created_at": DAY1, "updated_at": DAY1},
    "orders": {
        "id": 1,
        "customer_id": 1,
        "status": "paid",
        "total_amount": "10.00",
        "created_at": DAY1,
        "updated_at": DAY1,
    },
    "order_items": {
        "id": 1,
        "order_id": 1,
        "product_id": 1,
        "quantity": 1,
        "unit_price": "5.00",
        "created_at": DAY1,
        "updated_at": DAY1,
    },
}


def topic(table: str) -> str:
    return f"{TOPIC_PREFIX}.public.{table}"


def row(table: str, **values: Any) -> dict[str, Any]:
    """A valid source row image of `table`, with `values` replacing (or adding) columns."""
    return {**ROWS[table], **values}


def envelope(
    table: str, image: dict[str, Any] | None = None, op: str = "c", lsn: int = 1000, ts_ms: int | None = None, **source
) -> dict[str, Any]:
    """A Debezium change event (JSON converter without schemas): a delete carries the image as `before`."""
    image = row(table) if image is None else image
    return {
        "before": image if op == "d" else None,
        "after": None if op == "d" else image,
        "source": {
            "version": "3.6.1.Final",
            "connector": "postgresql",
            "table": table,
            "lsn": lsn,
            "ts_ms": lsn * 1000 if ts_ms is None else ts_ms,
            "txId": 77,
            **source,
        },
        "op": op,
        "ts_ms": 1,
    }


def value(table: str, image: dict[str, Any] | None = None, **kwargs: Any) -> bytes:
    return json.dumps(envelope(table, image, **kwargs)).encode()


def record(
    table: str,
    image: dict[str, Any] | None = None,
    offset: int = 0,
    partition: int = 0,
    key: bytes | None = b'{"id":1}',
    **kwargs: Any,
) -> tuple[str, int, int, bytes | None, bytes | None]:
    """A Kafka record (topic, partition, offset, key, value) holding a change of `table`."""
    return (topic(table), partition, offset, key, value(table, image, **kwargs))


def raw_record(table: str, raw: bytes | None, offset: int = 0, partition: int = 0, key: bytes | None = b"k"):
    """A Kafka record whose value is exactly `raw` (a tombstone when None)."""
    return (topic(table), partition, offset, key, raw)


def event(table: str, image: dict[str, Any], op: str = "c", lsn: int = 10, ts_ms: int = 1_764_064_800_000):
    before = image if op == "d" else None
    after = None if op == "d" else image
    return ChangeEvent(table, op, before, after, lsn, ts_ms, 1, topic(table), 0, 42)


# -- poison: records no stream may stop on ----------------------------------------------------------------------
UNAVAILABLE = "__debezium_unavailable_value"  # Debezium's TOAST placeholder


def spliced(data: Any, raw: bytes, marker: str = "<RAW>") -> bytes:
    """`data` as JSON with the string `marker` replaced by the raw JSON text `raw`: what json.dumps cannot write
    (NaN or number literals of any size, nesting deeper than Python's recursion limit, invalid UTF-8)."""
    return json.dumps(data).encode().replace(json.dumps(marker).encode(), raw, 1)


def _with(table: str, op: str = "c", lsn: int = 1000, ts_ms: int = 1_764_064_800_000, **values: Any) -> dict:
    return envelope(table, row(table, **values), op=op, lsn=lsn, ts_ms=ts_ms)


def _set(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**data, **fields}


def _source(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**data, "source": {**data["source"], **fields}}


_DEEP = b"[" * 10_000 + b"]" * 10_000
# kind → the raw Kafka record value. Each must become a dead letter whose reason contains POISON_REASONS[kind].
POISON: dict[str, bytes] = {
    "not_json": b"{this is not JSON",
    "empty_value": b"",
    "not_utf8": b'{"op": "c", "source": {"table": "orders"}, "after": {"name": "\xff\xfe"}}',
    "envelope_list": b'[{"op": "c"}]',
    "deep_nesting": spliced(_with("orders", notes="<RAW>"), _DEEP),
    "op_list": json.dumps(_set(_with("orders"), op=["c"])).encode(),
    "op_object": json.dumps(_set(_with("orders"), op={"c": 1})).encode(),
    "source_not_object": json.dumps(_set(_with("orders"), source="postgres")).encode(),
    "table_list": json.dumps(_source(_with("orders"), table=["orders"])).encode(),
    "table_unknown": json.dumps(_source(_with("orders"), table="shipments")).encode(),
    "before_list": json.dumps(_set(_with("orders", op="d"), before=[1, 2])).encode(),
    "after_string": json.dumps(_set(_with("orders"), after="x")).encode(),
    "lsn_float": json.dumps(_source(_with("orders"), lsn=1.5)).encode(),
    "lsn_bigint_overflow": json.dumps(_source(_with("orders"), lsn=2**63)).encode(),
    "ts_ms_huge": json.dumps(_source(_with("orders"), ts_ms=10**20)).encode(),
    "ts_ms_year_10000": json.dumps(_source(_with("orders"), ts_ms=253_402_300_800_000)).encode(),
    "ts_ms_negative_huge": json.dumps(_source(_with("orders"), ts_ms=-(10**18))).encode(),
    "id_unicode_digit": json.dumps(_with("orders", id="²")).encode(),
    "id_double_minus": json.dumps(_with("orders", id="--5")).encode(),
    "id_boolean": json.dumps(_with("orders", id=True)).encode(),
    "id_bigint_overflow": json.dumps(_with("orders", id=2**63)).encode(),
    "id_string_bigint_overflow": json.dumps(_with("orders", id="9" * 40)).encode(),
    "id_float_literal": spliced(_with("orders", id="<RAW>"), b"1e30"),
    "id_10000_digit_literal": spliced(_with("orders", id="<RAW>"), b"9" * 10_000),
    "quantity_int_overflow": json.dumps(_with("order_items", quantity=2**31)).encode(),
    "nul_in_name": json.dumps(_with("customers", name="Ada\x00Lovelace")).encode(),
    "lone_surrogate_in_email": json.dumps(_with("customers", email="\ud800@example.com")).encode(),
    "raw_surrogate_bytes": json.dumps(_with("customers", email="\ud800@example.com"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    ),
    "status_list": json.dumps(_with("orders", status=["paid"])).encode(),
    "timestamp_year_10000": json.dumps(_with("orders", created_at="10000-01-01T00:00:00Z")).encode(),
    "timestamp_past_9999_in_utc": json.dumps(_with("orders", created_at="9999-12-31T20:00:00-05:00")).encode(),
    "timestamp_before_year_1_in_utc": json.dumps(_with("orders", created_at="0001-01-01T01:00:00+05:00")).encode(),
    "micro_timestamp_huge": json.dumps(_with("orders", created_at=2**63 - 1)).encode(),
    "timestamp_object": json.dumps(_with("orders", updated_at={"$date": 1})).encode(),
    "amount_1e400_string": json.dumps(_with("orders", total_amount="1e400")).encode(),
    "amount_1e400_literal": spliced(_with("orders", total_amount="<RAW>"), b"1e400"),
    "amount_nan_string": json.dumps(_with("orders", total_amount="NaN")).encode(),
    "amount_snan_string": json.dumps(_with("orders", total_amount="sNaN")).encode(),
    "amount_nan_literal": spliced(_with("orders", total_amount="<RAW>"), b"NaN"),
    "amount_infinity_literal": spliced(_with("orders", total_amount="<RAW>"), b"-Infinity"),
    "toast_in_name": json.dumps(_with("customers", name=UNAVAILABLE)).encode(),
    "toast_in_price": json.dumps(_with("products", price=UNAVAILABLE)).encode(),
    "toast_in_delete_key": json.dumps(envelope("orders", {"id": UNAVAILABLE}, op="d")).encode(),
}
POISON_REASONS: dict[str, str] = {
    "not_json": "malformed JSON",
    "empty_value": "malformed JSON",
    "not_utf8": "not valid UTF-8",
    "envelope_list": "envelope is a list",
    "deep_nesting": "depth",
    "op_list": "unknown or missing op a list of 1 item",
    "op_object": "unknown or missing op an object of 1 key",
    "source_not_object": "source is 'postgres', not an object",
    "table_list": "source.table is a list",
    "table_unknown": "no warehouse mapping for table 'shipments'",
    "before_list": "before is not an object",
    "after_string": "after is not an object",
    "lsn_float": "invalid source.lsn 1.5",
    "lsn_bigint_overflow": "invalid source.lsn 9223372036854775808",
    "ts_ms_huge": "invalid source.ts_ms 1e+20",
    "ts_ms_year_10000": "invalid source.ts_ms 253402300800000",
    "ts_ms_negative_huge": "invalid source.ts_ms -1000000000000000000",
    "id_unicode_digit": "id: expected an integer, got '²'",
    "id_double_minus": "id: expected an integer, got '--5'",
    "id_boolean": "id: expected an integer, got a boolean",
    "id_bigint_overflow": "id: 9223372036854775808 does not fit BIGINT",
    "id_string_bigint_overflow": "does not fit BIGINT",
    "id_float_literal": "id: expected an integer, got 1e+30",
    "id_10000_digit_literal": "number is infinity",
    "quantity_int_overflow": "quantity: 2147483648 does not fit INTEGER",
    "nul_in_name": "name: contains a NUL character",
    "lone_surrogate_in_email": "surrogate",
    "raw_surrogate_bytes": "not valid UTF-8",
    "status_list": "status: expected text, got a list",
    "timestamp_year_10000": "created_at: '10000-01-01T00:00:00Z' is not an ISO-8601 timestamp",
    "timestamp_past_9999_in_utc": "created_at: '9999-12-31T20:00:00-05:00' is outside",
    "timestamp_before_year_1_in_utc": "created_at: '0001-01-01T01:00:00+05:00' is outside",
    "micro_timestamp_huge": "created_at: 9223372036854775807 microseconds since 1970 is outside",
    "timestamp_object": "updated_at: expected a timestamp, got an object",
    "amount_1e400_string": "total_amount: '1e400' does not fit NUMERIC(12,2)",
    "amount_1e400_literal": "number is infinity",
    "amount_nan_string": "total_amount: 'NaN' is not a finite number",
    "amount_snan_string": "total_amount: 'sNaN' is not a finite number",
    "amount_nan_literal": "malformed JSON",
    "amount_infinity_literal": "malformed JSON",
    "toast_in_name": f"name: unavailable value ({UNAVAILABLE}",
    "toast_in_price": f"price: unavailable value ({UNAVAILABLE}",
    "toast_in_delete_key": f"id: unavailable value ({UNAVAILABLE}",
}


def poison_records(count: int, table: str = "orders", start: int = 0, partition: int = 0):
    """`count` Kafka records cycling through every POISON kind, at consecutive offsets from `start`."""
    kinds = list(POISON)
    return [
        raw_record(table, POISON[kinds[i % len(kinds)]], offset=start + i, partition=partition) for i in range(count)
    ]
