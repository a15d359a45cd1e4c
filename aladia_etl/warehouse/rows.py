"""The warehouse's row contract: a source row image (a dict of column values) → the typed values of one
warehouse row, validated and cleansed. Pure Python; used by the stream path (both engines) and by `verify`.

Each result is a tuple in the column order of `schema.COLUMNS[table]`. Columns the mapping does not know (a column
added to a source table while streaming) are ignored. A value that cannot become a warehouse value raises
RecordError with the reason (the record's fate is the dead-letter queue).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aladia_etl.core.errors import RecordError
from aladia_etl.source.schema import ORDER_STATUSES
from aladia_etl.warehouse.schema import COLUMNS

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_MONEY = Decimal("10000000000")  # NUMERIC(12,2)
_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUSES = frozenset(ORDER_STATUSES)


# -- field converters: accept Debezium JSON values and the Python values psycopg returns (used by `verify`) -------
def _field(row: dict[str, Any], name: str, required: bool = True) -> Any:
    value = row.get(name)
    if value is None and required:
        raise RecordError(f"missing field {name}")
    return value


def to_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise RecordError(f"{name}: expected an integer, got {value!r}")


def to_money(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise RecordError(f"{name}: expected a decimal string, got {value!r}")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise RecordError(f"{name}: {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise RecordError(f"{name}: {value!r} is not a finite number")
    if amount < 0:
        raise RecordError(f"{name}: negative amount {value}")
    if amount >= _MAX_MONEY:
        raise RecordError(f"{name}: {value} does not fit NUMERIC(12,2)")
    if amount != amount.quantize(_CENT):
        raise RecordError(f"{name}: {value} has more than 2 decimal places")
    return amount.quantize(_CENT)


def to_timestamp(value: Any, name: str) -> datetime:
    """ZonedTimestamp strings (timestamptz), MicroTimestamp integers (timestamp), or datetimes."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected a timestamp, got a boolean")
    if isinstance(value, int):
        return _EPOCH + timedelta(microseconds=value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(f"{name}: {value!r} is not an ISO-8601 timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise RecordError(f"{name}: expected a timestamp, got {value!r}")


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected text, got {value!r}")
    cleaned = " ".join(value.split())
    if not cleaned:
        raise RecordError(f"{name}: empty")
    return cleaned


def _optional_ts(row: dict[str, Any], name: str) -> datetime | None:
    value = row.get(name)
    return None if value is None else to_timestamp(value, name)


def utc_day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(UTC).date()


# -- per-table mappings: source row (dict) → warehouse values (tuple) ---------------------------------------
def map_customer(row: dict[str, Any]) -> tuple:
    email = _text(_field(row, "email"), "email").lower()
    if not _EMAIL.match(email):
        raise RecordError(f"email: {email!r} is not an e-mail address")
    country = row.get("country")
    return (
        to_int(_field(row, "id"), "id"),
        _text(_field(row, "name"), "name"),
        email,
        _text(country, "country").upper() if country is not None else None,
        _optional_ts(row, "created_at"),
        _optional_ts(row, "updated_at"),
    )


def map_product(row: dict[str, Any]) -> tuple:
    return (
        to_int(_field(row, "id"), "id"),
        _text(_field(row, "name"), "name"),
        _text(_field(row, "category"), "category"),
        to_money(_field(row, "price"), "price"),
        _optional_ts(row, "created_at"),
        _optional_ts(row, "updated_at"),
    )


def map_order(row: dict[str, Any]) -> tuple:
    status = _field(row, "status")
    status = status.strip().lower() if isinstance(status, str) else status
    if status not in _STATUSES:
        raise RecordError(f"status: unknown order status {status!r}")
    created = _optional_ts(row, "created_at")
    return (
        to_int(_field(row, "id"), "id"),
        to_int(_field(row, "customer_id"), "customer_id"),
        status,
        to_money(_field(row, "total_amount"), "total_amount"),
        utc_day(created),
        created,
        _optional_ts(row, "updated_at"),
    )


def map_order_item(row: dict[str, Any]) -> tuple:
    quantity = to_int(_field(row, "quantity"), "quantity")
    if quantity <= 0:
        raise RecordError(f"quantity: must be positive, got {quantity}")
    return (
        to_int(_field(row, "id"), "id"),
        to_int(_field(row, "order_id"), "order_id"),
        to_int(_field(row, "product_id"), "product_id"),
        quantity,
        to_money(_field(row, "unit_price"), "unit_price"),
        _optional_ts(row, "created_at"),
        _optional_ts(row, "updated_at"),
    )


MAPPERS: dict[str, Callable[[dict[str, Any]], tuple]] = {
    "customers": map_customer,
    "products": map_product,
    "orders": map_order,
    "order_items": map_order_item,
}


def deleted_values(table: str, row: dict[str, Any]) -> tuple:
    """A delete needs only the key; other values are kept when they are valid, else left NULL."""
    try:
        return MAPPERS[table](row)
    except RecordError:
        key = to_int(_field(row, "id"), "id")
        return (key,) + (None,) * (len(COLUMNS[table]) - 1)
