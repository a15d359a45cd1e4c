"""A pipeline's sinks compiled once per process (`warehouse.row_mapping.row_mapper` for each), found by their source
table: what the processing path (`processing.transform`) maps every record with."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from aladia_etl.warehouse.row_mapping import delete_mapper, row_mapper
from aladia_etl.warehouse.sinks import Sink


class CompiledSink:
    __slots__ = ("delete", "map", "name", "sink")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.name = sink.name
        self.map = row_mapper(sink)
        self.delete = delete_mapper(sink)


class Mappers:
    """Every sink of a pipeline compiled once, found by its source table."""

    def __init__(self, sinks: tuple[Sink, ...] | list[Sink]) -> None:
        self.sinks = {s.name: s for s in sinks}
        self.compiled = [CompiledSink(s) for s in sinks]
        self._by_table: dict[tuple[str, str], list[CompiledSink]] = {}
        for c in self.compiled:
            self._by_table.setdefault((c.sink.source_schema, c.sink.source_table), []).append(c)

    def for_table(self, schema: str, table: str) -> list[CompiledSink]:
        return self._by_table.get((schema, table), [])


@cache
def builtin_mappers() -> Mappers:
    from aladia_etl.warehouse.compile import builtin

    return Mappers(builtin().sinks)


_SPECS: dict[str, Mappers] = {}


def mappers_for(spec: list[dict[str, Any]] | None) -> Mappers:
    """The compiled sinks of a pipeline spec (`CompiledPipeline.spec()`, what workers receive); None: built-in.
    Compiled once per process and spec."""
    if spec is None:
        return builtin_mappers()
    key = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()
    found = _SPECS.get(key)
    if found is None:
        found = _SPECS[key] = Mappers([Sink.from_dict(s) for s in spec])
    return found
