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

from aladia_etl.core.errors import RecordError, quote
from aladia_etl.source.schema import ORDER_STATUSES
from aladia_etl.warehouse.schema import COLUMNS, INT_RANGE, MONEY_LIMIT, MONEY_PLACES, TIMESTAMP_RANGE

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CENT = Decimal(1).scaleb(-MONEY_PLACES)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUSES = frozenset(ORDER_STATUSES)
_TS_MIN, _TS_MAX = TIMESTAMP_RANGE
_MICROS = ((_TS_MIN - _EPOCH) // timedelta(microseconds=1), (_TS_MAX - _EPOCH) // timedelta(microseconds=1))
# Epoch milliseconds that make a storable TIMESTAMPTZ (Debezium's `source.ts_ms` becomes `source_ts`).
EPOCH_MS_RANGE = (-(-_MICROS[0] // 1000), _MICROS[1] // 1000)
_YEARS = f"{_TS_MIN.date().isoformat()}..{_TS_MAX.date().isoformat()} UTC"
_MAX_DIGITS = 30  # longer digit strings cannot be a BIGINT (int() would also refuse past 4300 digits)
# Debezium's stand-in for a TOASTed value that the change event does not carry (REPLICA IDENTITY not FULL): storing
# it would overwrite the real value.
UNAVAILABLE = "__debezium_unavailable_value"


# -- field converters: accept Debezium JSON values and the Python values psycopg returns (used by `verify`) -------
def _field(row: dict[str, Any], name: str, required: bool = True) -> Any:
    value = row.get(name)
    if value is None and required:
        raise RecordError(f"missing field {name}")
    return value


def _bad(name: str, value: Any, problem: str) -> RecordError:
    """The error for `value` in field `name`. Debezium's TOAST placeholder fails every conversion but text, so it
    is looked for where a conversion has failed (and in `_text`): no cost for valid values."""
    if isinstance(value, str) and value == UNAVAILABLE:
        return RecordError(
            f"{name}: unavailable value ({UNAVAILABLE}, a TOASTed value the change event does not carry; "
            "the source table needs REPLICA IDENTITY FULL)"
        )
    return RecordError(f"{name}: {problem}")


def to_int(value: Any, name: str, sql_type: str = "BIGINT") -> int:
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
        if not digits.isdecimal():
            raise _bad(name, value, f"expected an integer, got {quote(value)}")
        if len(digits) > _MAX_DIGITS:
            raise RecordError(f"{name}: {quote(value)} does not fit {sql_type}")
        number = int(text)
    else:
        raise RecordError(f"{name}: expected an integer, got {quote(value)}")
    low, high = INT_RANGE[sql_type]
    if not low <= number <= high:
        raise RecordError(f"{name}: {quote(number)} does not fit {sql_type}")
    return number


def to_money(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise RecordError(f"{name}: expected a decimal string, got {quote(value)}")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise _bad(name, value, f"{quote(value)} is not a decimal number") from None
    if not amount.is_finite():
        raise RecordError(f"{name}: {quote(value)} is not a finite number")
    if amount < 0:
        raise RecordError(f"{name}: negative amount {quote(value)}")
    if amount >= MONEY_LIMIT:
        raise RecordError(f"{name}: {quote(value)} does not fit NUMERIC(12,2)")
    cents = amount.quantize(_CENT)
    if cents != amount:
        raise RecordError(f"{name}: {quote(value)} has more than 2 decimal places")
    return cents


def to_timestamp(value: Any, name: str) -> datetime:
    """ZonedTimestamp strings (timestamptz), MicroTimestamp integers (timestamp), or datetimes; in UTC, and within
    what TIMESTAMPTZ stores (`schema.TIMESTAMP_RANGE`)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, bool):
        raise RecordError(f"{name}: expected a timestamp, got a boolean")
    elif isinstance(value, int):
        if not _MICROS[0] <= value <= _MICROS[1]:
            raise RecordError(f"{name}: {quote(value)} microseconds since 1970 is outside {_YEARS}")
        return _EPOCH + timedelta(microseconds=value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(name, value, f"{quote(value)} is not an ISO-8601 timestamp of the years 1-9999") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        raise RecordError(f"{name}: expected a timestamp, got {quote(value)}")
    if moment.tzinfo is not UTC:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # the years 1 and 9999 with an offset beyond them
            raise RecordError(f"{name}: {quote(value)} is outside {_YEARS}") from None
    if not _TS_MIN <= moment <= _TS_MAX:
        raise RecordError(f"{name}: {quote(value)} is outside {_YEARS}")
    return moment


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected text, got {quote(value)}")
    cleaned = " ".join(value.split())
    if not cleaned:
        raise RecordError(f"{name}: empty")
    if cleaned == UNAVAILABLE:
        raise _bad(name, cleaned, "")
    if "\x00" in cleaned:
        raise RecordError(f"{name}: contains a NUL character (U+0000), which TEXT cannot store")
    if not cleaned.isascii():
        try:
            cleaned.encode()
        except UnicodeEncodeError:
            raise RecordError(f"{name}: {quote(value)} is not valid Unicode (a lone surrogate)") from None
    return cleaned


def _optional_ts(row: dict[str, Any], name: str) -> datetime | None:
    value = _field(row, name, required=False)
    return None if value is None else to_timestamp(value, name)


def utc_day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(UTC).date()


# -- per-table mappings: source row (dict) → warehouse values (tuple) ---------------------------------------
def map_customer(row: dict[str, Any]) -> tuple:
    email = _text(_field(row, "email"), "email").lower()
    if not _EMAIL.match(email):
        raise RecordError(f"email: {quote(email)} is not an e-mail address")
    country = _field(row, "country", required=False)
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
    if not isinstance(status, str):
        raise RecordError(f"status: expected text, got {quote(status)}")
    status = status.strip().lower()
    if status not in _STATUSES:
        raise _bad("status", status, f"unknown order status {quote(status)}")
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
    quantity = to_int(_field(row, "quantity"), "quantity", "INTEGER")
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
