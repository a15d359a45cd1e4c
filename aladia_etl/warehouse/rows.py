"""The warehouse's value contract, shared by every converter (`warehouse.convert`): integers, money, timestamps
and what PostgreSQL can store of each; Debezium's placeholder for a value it does not carry. A value that cannot
become a warehouse value raises RecordError with the reason (the record's fate is the dead-letter queue).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aladia_etl.core.errors import Misfit, RecordError, quote
from aladia_etl.warehouse.schema import INT_RANGE, MONEY_LIMIT, MONEY_PLACES, TIMESTAMP_RANGE

_CENT = Decimal(1).scaleb(-MONEY_PLACES)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
def _bad(name: str, value: Any, problem: str, kind: type[RecordError] = RecordError) -> RecordError:
    """The error for `value` in field `name`. Debezium's TOAST placeholder fails every conversion but text, so it
    is looked for where a conversion has failed (and in `_text`): no cost for valid values."""
    if isinstance(value, str) and value == UNAVAILABLE:
        return RecordError(
            f"{name}: unavailable value ({UNAVAILABLE}, a TOASTed value the change event does not carry; "
            "the source table needs REPLICA IDENTITY FULL)"
        )
    return kind(f"{name}: {problem}")


def to_int(value: Any, name: str, sql_type: str = "BIGINT", minimum: Any = None, maximum: Any = None) -> int:
    """An integer (a JSON number, or a string of digits) that fits `sql_type`, and the model's bounds if given."""
    if isinstance(value, bool):
        raise Misfit(f"{name}: expected an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
        if not digits.isdecimal():
            raise _bad(name, value, f"expected an integer, got {quote(value)}", Misfit)
        if len(digits) > _MAX_DIGITS:
            raise Misfit(f"{name}: {quote(value)} does not fit {sql_type}")
        number = int(text)
    else:
        raise Misfit(f"{name}: expected an integer, got {quote(value)}")
    low, high = INT_RANGE[sql_type]
    if not low <= number <= high:
        raise Misfit(f"{name}: {quote(number)} does not fit {sql_type}")
    if minimum is not None and number < minimum:
        raise below(name, value, number, minimum)
    if maximum is not None and number > maximum:
        raise RecordError(f"{name}: {quote(value)} is above the maximum {maximum}")
    return number


def below(name: str, value: Any, result: Any, minimum: Any) -> RecordError:
    """The reason for a value under a model's minimum (the orders model's wording for amounts and quantities)."""
    if minimum == 0:
        return RecordError(f"{name}: negative amount {quote(value)}")
    if minimum == 1 and isinstance(result, int):
        return RecordError(f"{name}: must be positive, got {result}")
    return RecordError(f"{name}: {quote(value)} is below the minimum {minimum}")


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


def utc_day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(UTC).date()
