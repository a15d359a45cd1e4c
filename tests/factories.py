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
