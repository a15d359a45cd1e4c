"""Converters from what Debezium sends for a column (JSON values, with the connector's settings in
`cdc.connector`) to the value the warehouse stores, one per kind of column, and the rules of model columns
(cleansing, allowed values, ranges, checks, derived values). A value the warehouse cannot store, or that breaks a
rule, raises RecordError with the reason: the record becomes a dead letter, the stream goes on.

`row_mapper(sink)` compiles a sink's columns once into a function of the source row image; the processing path
calls it for every record of the sink's table, whatever the table.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from aladia_etl.core.errors import Misfit, RecordError, quote
from aladia_etl.warehouse.rows import UNAVAILABLE, _bad, below, to_int, to_timestamp, utc_day
from aladia_etl.warehouse.sinks import SinkColumn

Converter = Callable[[Any], Any]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EPOCH_DAY = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)
_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_UNAVAILABLE_BYTES = UNAVAILABLE.encode()
# how Debezium writes a numeric's special values with decimal.handling.mode=string
_NUMERIC_SPECIAL = {"NAN": "NaN", "POSITIVE_INFINITY": "Infinity", "NEGATIVE_INFINITY": "-Infinity"}
_TIMESTAMP_MS = re.compile(r"timestamp\((\d)\)")
_INT_TYPES = {"int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT"}


# -- one value ---------------------------------------------------------------------------------------------------
def _checked_text(value: str, name: str) -> str:
    if value == UNAVAILABLE:
        raise _bad(name, value, "")
    if "\x00" in value:
        raise RecordError(f"{name}: contains a NUL character (U+0000), which TEXT cannot store")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise RecordError(f"{name}: {quote(value)} is not valid Unicode (a lone surrogate)") from None
    return value


def _squeezed(value: str, name: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise RecordError(f"{name}: empty")
    return value


def _text(value: Any, name: str, clean: tuple[str, ...]) -> str:
    """Text, cleaned in order: trim (ends), squeeze (runs of whitespace; empty is rejected), lower, upper."""
    if not isinstance(value, str):
        raise Misfit(f"{name}: expected text, got {quote(value)}")
    for step in clean:
        if step == "trim":
            value = value.strip()
        elif step == "squeeze":
            value = _squeezed(value, name)
        elif step == "lower":
            value = value.lower()
        elif step == "upper":
            value = value.upper()
    return _checked_text(value, name)


# The cleanings the hot path meets most, without the loop (the same result as `_text`).
def _text_plain(value: Any, name: str, clean: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise Misfit(f"{name}: expected text, got {quote(value)}")
    return _checked_text(value, name)


def _text_squeeze(value: Any, name: str, clean: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise Misfit(f"{name}: expected text, got {quote(value)}")
    return _checked_text(_squeezed(value, name), name)


def _text_squeeze_lower(value: Any, name: str, clean: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise Misfit(f"{name}: expected text, got {quote(value)}")
    return _checked_text(_squeezed(value, name).lower(), name)


def _text_squeeze_upper(value: Any, name: str, clean: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise Misfit(f"{name}: expected text, got {quote(value)}")
    return _checked_text(_squeezed(value, name).upper(), name)


def _text_trim_lower(value: Any, name: str, clean: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise Misfit(f"{name}: expected text, got {quote(value)}")
    return _checked_text(value.strip().lower(), name)


_TEXT = {
    (): _text_plain,
    ("squeeze",): _text_squeeze,
    ("squeeze", "lower"): _text_squeeze_lower,
    ("squeeze", "upper"): _text_squeeze_upper,
    ("trim", "lower"): _text_trim_lower,
}


def text_function(clean: tuple[str, ...]):
    return _TEXT.get(clean, _text)


_LIMITED_TEXT = re.compile(r"(character varying|varchar|character|char|bpchar)\((\d+)\)")


def _text_within(value: Any, name: str, clean: tuple[str, ...], text, limit: int, padded: bool) -> str:
    """Text that fits VARCHAR(limit), or CHAR(limit) (whose trailing spaces PostgreSQL drops to fit)."""
    result = text(value, name, clean)
    if len(result) > limit and len(result.rstrip(" ") if padded else result) > limit:
        raise Misfit(f"{name}: {quote(result)} is longer than {limit} characters")
    return result


_LIMITS: dict[tuple[int, int], tuple[Decimal, Decimal]] = {}


def _limits(precision: int, scale: int) -> tuple[Decimal, Decimal]:
    """(10^(precision-scale), the quantum 10^-scale) of NUMERIC(precision, scale), computed once."""
    found = _LIMITS.get((precision, scale))
    if found is None:
        found = _LIMITS[(precision, scale)] = (Decimal(10) ** (precision - scale), Decimal(1).scaleb(-scale))
    return found


def to_numeric(
    value: Any,
    name: str,
    precision: int | None = None,
    scale: int | None = None,
    finite=True,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> Decimal:
    """A decimal string (Debezium's decimal.handling.mode=string), an integer or a Decimal. With a precision, the
    value must fit NUMERIC(precision, scale) without rounding; `finite=False` lets NaN and ±Infinity through; the
    model's bounds are checked when given."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise Misfit(f"{name}: expected a decimal string, got {quote(value)}")
    if not finite and isinstance(value, str) and value in _NUMERIC_SPECIAL:
        return Decimal(_NUMERIC_SPECIAL[value])
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise _bad(name, value, f"{quote(value)} is not a decimal number", Misfit) from None
    if not amount.is_finite():
        if finite or amount.is_snan():
            raise RecordError(f"{name}: {quote(value)} is not a finite number")
        return amount
    if minimum is not None and amount < minimum:
        raise below(name, value, amount, minimum)
    if maximum is not None and amount > maximum:
        raise RecordError(f"{name}: {quote(value)} is above the maximum {maximum}")
    if precision is not None:
        scale = scale or 0
        limit, quantum = _limits(precision, scale)
        if amount >= limit or amount <= -limit:  # no abs(): it rounds, and overflows a huge exponent
            raise Misfit(f"{name}: {quote(value)} does not fit NUMERIC({precision},{scale})")
        rounded = amount.quantize(quantum)
        if rounded != amount:
            raise Misfit(f"{name}: {quote(value)} has more than {scale} decimal places")
        return rounded
    return amount


def _float(value: Any, name: str, single: bool) -> float:
    if isinstance(value, bool):
        raise Misfit(f"{name}: expected a number, got a boolean")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and value in _FLOATS:
        return _FLOATS[value]
    else:
        raise Misfit(f"{name}: expected a number, got {quote(value)}")
    # the nearest REAL: a finite value that becomes infinite there is beyond REAL's range (FLT_MAX is not)
    if single and math.isfinite(number) and math.isinf(struct.unpack("f", struct.pack("f", number))[0]):
        raise Misfit(f"{name}: {quote(value)} does not fit REAL")
    return number


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise Misfit(f"{name}: expected true or false, got {quote(value)}")
    return value


def _uuid(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise Misfit(f"{name}: expected a UUID string, got {quote(value)}")
    try:
        uuid.UUID(value)
    except ValueError:
        raise _bad(name, value, f"{quote(value)} is not a UUID") from None
    return value


def _date(value: Any, name: str) -> date:
    """io.debezium.time.Date: days since 1970-01-01."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, value, f"expected days since 1970, got {quote(value)}")
    try:
        return _EPOCH_DAY + timedelta(days=value)
    except OverflowError:
        raise RecordError(f"{name}: {quote(value)} days since 1970 is outside the years 1-9999") from None


def _time(value: Any, name: str) -> time | str:
    """io.debezium.time.MicroTime: microseconds since midnight (24:00:00 included)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86_400_000_000:
        raise _bad(name, value, f"expected microseconds since midnight, got {quote(value)}")
    if value == 86_400_000_000:
        return "24:00:00"
    seconds, micros = divmod(value, 1_000_000)
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60, micros)


def _timetz(value: Any, name: str) -> time:
    """io.debezium.time.ZonedTime: the time in UTC, e.g. 08:15:30.5Z (Debezium converts every offset to UTC)."""
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected a time with zone, got {quote(value)}")
    try:
        moment = time.fromisoformat(value)
    except ValueError:
        raise _bad(name, value, f"{quote(value)} is not an ISO-8601 time with zone") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _timestamp(value: Any, name: str, millis: bool) -> datetime:
    """io.debezium.time.MicroTimestamp (or Timestamp, milliseconds, for a precision up to 3): local time, no zone."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, value, f"expected an epoch {'milli' if millis else 'micro'}second count, got {quote(value)}")
    try:
        return _EPOCH + timedelta(microseconds=value * 1000 if millis else value)
    except OverflowError:
        # Misfit: also what a timestamp(0-3) column widened to timestamp(4-6) in the source sends (microseconds)
        raise Misfit(f"{name}: {quote(value)} is outside the years 1-9999") from None


def _interval(value: Any, name: str) -> str:
    """io.debezium.time.Interval (interval.handling.mode=string): ISO 8601, e.g. P1Y2M3DT4H5M6.78S."""
    if not isinstance(value, str) or not value.startswith("P") or "\x00" in value:
        raise _bad(name, value, f"expected an ISO-8601 interval, got {quote(value)}")
    return value


def _json(value: Any, name: str, binary: bool) -> str:
    """io.debezium.data.Json: the document's text, kept as it is (json keeps its formatting, jsonb normalises)."""
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected JSON text, got {quote(value)}")
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        if value == UNAVAILABLE:
            raise _bad(name, value, "") from None
        raise RecordError(f"{name}: {quote(value)} is not JSON") from None
    if "\x00" in value or (binary and "\\u0000" in value):
        raise RecordError(f"{name}: holds a NUL character (\\u0000), which {'jsonb' if binary else 'json'} refuses")
    return value


def _bytea(value: Any, name: str) -> bytes:
    """binary.handling.mode=base64."""
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected base64 text, got {quote(value)}")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(name, value, f"{quote(value)} is not base64") from None
    if decoded == _UNAVAILABLE_BYTES:  # Debezium's placeholder for an unchanged TOASTed value, base64-encoded
        raise _bad(name, UNAVAILABLE, "")
    return decoded


def kind_call(kind: str, name: str, sql_type: str, rules: dict[str, Any]) -> tuple[Callable[..., Any], tuple]:
    """The converter of one kind of column as (function, extra arguments): the value converts as
    `function(value, *extra)` (without the model rules that apply after it)."""
    if kind.startswith("array:"):
        inner = {"finite": rules["finite"]} if "finite" in rules else {}
        element = kind_converter(kind.removeprefix("array:"), f"{name}[]", sql_type.removesuffix("[]"), inner)
        return _array, (name, element)
    if kind in _INT_TYPES:
        return to_int, (name, _INT_TYPES[kind])
    if kind == "numeric":
        precision, scale = rules.get("precision"), rules.get("scale")
        finite = rules.get("finite", True)
        if precision is None:
            found = re.fullmatch(r"numeric\((\d+),(\d+)\)", sql_type.replace(" ", "").lower())
            if found:
                precision, scale = int(found.group(1)), int(found.group(2))
        return to_numeric, (name, precision, scale, finite)
    simple: dict[str, tuple[Callable[..., Any], tuple]] = {
        "float4": (_float, (name, True)),
        "float8": (_float, (name, False)),
        "bool": (_bool, (name,)),
        "uuid": (_uuid, (name,)),
        "date": (_date, (name,)),
        "time": (_time, (name,)),
        "timetz": (_timetz, (name,)),
        "timestamptz": (to_timestamp, (name,)),
        "interval": (_interval, (name,)),
        "json": (_json, (name, False)),
        "jsonb": (_json, (name, True)),
        "bytea": (_bytea, (name,)),
    }
    if kind in simple:
        return simple[kind]
    if kind == "timestamp":
        found = _TIMESTAMP_MS.search(sql_type.lower())
        return _timestamp, (name, found is not None and int(found.group(1)) <= 3)
    if kind == "text":
        clean = tuple(rules.get("clean", ()))
        found = _LIMITED_TEXT.fullmatch(sql_type.strip().lower())
        if found:  # varchar(n) or char(n): a longer value would fail the whole COPY
            return _text_within, (name, clean, text_function(clean), int(found[2]), found[1] != "character varying")
        return text_function(clean), (name, clean)
    raise ValueError(f"no converter for {kind!r}")


def _array(value: Any, name: str, element: Converter) -> list:
    if not isinstance(value, list):
        raise _bad(name, value, f"expected an array, got {quote(value)}")
    return [None if v is None else element(v) for v in value]


def kind_converter(kind: str, name: str, sql_type: str, rules: dict[str, Any]) -> Converter:
    function, extra = kind_call(kind, name, sql_type, rules)
    return lambda value: function(value, *extra)


def _derived_day(value: Any, name: str) -> date | None:
    return utc_day(to_timestamp(value, name))


def _number_in(value: Any, function, extra: tuple, name: str, low, high) -> Any:
    result = function(value, *extra)
    if low is not None and result < low:
        raise below(name, value, result, low)
    if high is not None and result > high:
        raise RecordError(f"{name}: {quote(value)} is above the maximum {high}")
    return result


def _text_in(value: Any, name: str, text, clean: tuple[str, ...], one_of, label, email: bool) -> str:
    result = text(value, name, clean)
    if one_of is not None and result not in one_of:
        if label:
            raise _bad(name, result, f"unknown {label} {quote(result)}")
        raise _bad(name, result, f"{quote(result)} is not one of: {', '.join(sorted(one_of))}")
    if email and not _EMAIL.match(result):
        raise RecordError(f"{name}: {quote(result)} is not an e-mail address")
    return result


def column_call(column: SinkColumn) -> tuple[Callable[..., Any], tuple]:
    """(function, extra arguments): the column's value converts, with its model rules (range, allowed values,
    e-mail check, derived value), as `function(value, *extra)` — one call, the rules checked inside it."""
    rules, name = column.rules, column.source
    if rules.get("derive") == "utc_day":
        return _derived_day, (name,)
    function, extra = kind_call(column.kind, name, column.sql_type, rules)
    low = Decimal(rules["min"]) if "min" in rules else None
    high = Decimal(rules["max"]) if "max" in rules else None
    one_of = frozenset(rules["one_of"]) if "one_of" in rules else None
    email = rules.get("check") == "email"
    if one_of is not None or email:
        if column.kind != "text":
            raise ValueError("one_of and check apply to text")
        name, clean = extra
        return _text_in, (name, function, clean, one_of, rules.get("label"), email)
    if low is None and high is None:
        return function, extra
    if function is to_int or function is to_numeric:  # the bounds checked inside the one call
        return function, (*extra, low, high)
    return _number_in, (function, extra, name, low, high)


def column_converter(column: SinkColumn) -> Converter:
    """A column's converter with its model rules (range, allowed values, check, derived value)."""
    function, extra = column_call(column)
    return lambda value: function(value, *extra)


# -- one row ---------------------------------------------------------------------------------------------------------
