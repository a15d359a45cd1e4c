"""A sink's row mapper: the source row image (a dict) → the warehouse values, generated once per sink as
straight-line code over the column converters of `warehouse.convert`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aladia_etl.core.errors import Misfit, RecordError, ShapeChanged
from aladia_etl.warehouse.convert import column_call, column_converter
from aladia_etl.warehouse.sinks import Sink

_ABSENT = object()
_ABSENT_REASON = ": not in the change event (Debezium does not send this column's type)"


def row_mapper(sink: Sink) -> Callable[[dict[str, Any]], tuple]:
    """The source row image (a dict) → the sink's warehouse values, in its column order. Fields the sink does not
    know are ignored; a missing or null required field raises RecordError ("missing field x").

    The function is generated once per sink as straight-line code calling each column's converter directly (the hot
    loop runs it for every record: as fast as a hand-written mapping). Nothing of the sink enters the code's text:
    names, arguments and converters are bound as constants of its namespace."""
    namespace: dict[str, Any] = {"RecordError": RecordError, "ABSENT": _ABSENT}
    lines = ["def mapper(row):", "    get = row.get"]
    # a mirror: every column must be in the event (a missing field is not a NULL), and no field may be unknown —
    # either means the source table changed, or the record predates a change (ShapeChanged, not a dead letter). A
    # column the stream added after such a change (`optional`) is NULL in the records that predate it.
    # A value its column's type cannot hold (Misfit) may mean the source column changed type: ShapeChanged too,
    # unless the stream already found the column's type unchanged in the source catalog (`type_checked`: then the
    # value is the record's own fault, a dead letter).
    strict = sink.model is None
    if strict and sink.known_fields:
        namespace.update(ShapeChanged=ShapeChanged, KNOWN=frozenset(sink.known_fields), SINK=sink.name, Misfit=Misfit)
        namespace["EXPECTED"] = tuple(c.source for c in sink.columns if not c.rules.get("optional"))
        lines += [
            "    if not KNOWN.issuperset(row):",
            "        raise ShapeChanged(SINK, added=tuple(sorted(k for k in row if k not in KNOWN)))",
        ]
    for i, column in enumerate(sink.columns):
        function, extra = column_call(column)
        namespace[f"n{i}"] = column.source
        namespace[f"f{i}"] = function
        args = "".join(f", a{i}_{j}" for j in range(len(extra)))
        for j, value in enumerate(extra):
            namespace[f"a{i}_{j}"] = value
        call = f"f{i}(v{i}{args})"
        missing = f"raise RecordError('missing field ' + n{i})" if column.required else f"c{i} = None"
        if strict and column.rules.get("optional"):
            lines.append(f"    v{i} = get(n{i})")
        elif strict and sink.known_fields:
            lines += [
                f"    v{i} = get(n{i}, ABSENT)",
                f"    if v{i} is ABSENT:",
                "        raise ShapeChanged(SINK, missing=tuple(n for n in EXPECTED if n not in row))",
            ]
        elif strict:
            namespace[f"r{i}"] = column.source + _ABSENT_REASON
            lines += [f"    v{i} = get(n{i}, ABSENT)", f"    if v{i} is ABSENT:", f"        raise RecordError(r{i})"]
        else:
            lines.append(f"    v{i} = get(n{i})")
        lines += [f"    if v{i} is None:", f"        {missing}", "    else:"]
        if strict and sink.known_fields and not column.rules.get("type_checked"):
            lines += [
                "        try:",
                f"            c{i} = {call}",
                "        except Misfit:",
                f"            raise ShapeChanged(SINK, misfit=(n{i},)) from None",
            ]
        else:
            lines.append(f"        c{i} = {call}")
    values = "".join(f"c{i}, " for i in range(len(sink.columns)))
    lines.append(f"    return ({values})")
    exec(compile("\n".join(lines), f"<aladia mapper of {sink.name}>", "exec"), namespace)
    return namespace["mapper"]


def delete_mapper(sink: Sink) -> Callable[[dict[str, Any]], tuple]:
    """A delete needs only the key; other values are kept when they are valid, else left NULL."""
    full = row_mapper(sink)
    keys = [(i, c.source, column_converter(c)) for i, c in enumerate(sink.columns) if c.name in sink.key]
    width = len(sink.columns)

    def mapper(row: dict[str, Any]) -> tuple:
        try:
            return full(row)
        except RecordError:
            out: list[Any] = [None] * width
            for i, source, convert in keys:
                value = row.get(source)
                if value is None:
                    raise RecordError(f"missing field {source}") from None
                out[i] = convert(value)
            return tuple(out)

    return mapper
