"""Columns added to or dropped from mirrored source tables, by the pipeline file's `schema_changes` policy.

PostgreSQL's WAL carries no DDL, so a change is seen twice: when a stream plans its tables (the source catalog
against the warehouse table) and when a running stream meets a record whose fields are not its table's compiled
columns (`row_mapping.row_mapper` raises ShapeChanged, the batch's apply refuses it with SchemaDrift, nothing applied).
Then the stream compiles the pipeline again from the source catalog, plans it here, applies the warehouse DDL and
restarts its engine, which reads the refused batch again with the new shape (`processing.loop`).

- add_column: evolve — the column is added to the warehouse table and the table is re-read through an incremental
  snapshot (`cdc.snapshots`), since the rows that existed before `ADD COLUMN … DEFAULT …` hold the default in the
  source without any change event; records older than the column leave it NULL until the snapshot's row comes.
  ignore — not mirrored. fail — the stream stops (exit 3), nothing applied.
- drop_column: ignore — the warehouse keeps the column and no longer fills it. evolve — it is dropped from the
  warehouse table. fail — the stream stops (exit 3).
- type_change: widen — a type that holds every value of the old one (`ddl.widens`: integer → bigint or numeric,
  varchar(n) → varchar(m > n) or text, numeric(p,s) → more digits on either side, real → double precision, more
  fractional seconds) is widened in the warehouse; a narrowing (the source column now narrower than the warehouse's)
  keeps the warehouse's wider type, since every value still fits it. fail — either stops the stream (exit 3). Any
  other change (integer → text) stops the stream whatever the policy, unless the stream runs with
  --allow-destructive (then the warehouse column is converted with a cast).
  A running stream sees a widening when a value no longer fits its column (`convert.Misfit`): the mapper raises
  ShapeChanged(misfit=…) and the stream re-plans. A column whose type the catalog shows unchanged is marked
  `type_checked` and its misfits become dead letters, as in a model table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aladia_etl.core.errors import ConfigError, SchemaDrift
from aladia_etl.warehouse.ddl import COLUMNS_OF, OWN_COLUMNS, widens
from aladia_etl.warehouse.merge import target as target_name
from aladia_etl.warehouse.schema_history import Key, key
from aladia_etl.warehouse.sinks import Sink
from aladia_etl.warehouse.staging import StageStats

if TYPE_CHECKING:
    from psycopg import Connection

log = logging.getLogger("aladia.stream")
DEFAULT_POLICY = {"add_column": "evolve", "drop_column": "ignore", "type_change": "widen"}
# the converter that reads a wider warehouse type (a narrowed source column keeps the warehouse's type)
_KIND_OF = {"smallint": "int2", "integer": "int4", "bigint": "int8", "real": "float4", "double precision": "float8"}


@dataclass
class Evolution:
    sinks: tuple[Sink, ...]
    backfill: list[str] = field(default_factory=list)  # source tables (schema.table) to read again
    drops: set[tuple[str, str]] = field(default_factory=set)  # (warehouse table, column) the policy drops
    changes: list[dict[str, str]] = field(default_factory=list)  # {table, kind, column, outcome}


class SchemaChangeRefused(ConfigError):
    """A change the policy refuses; `change` is the refused change as `Evolution.changes` lists them."""

    def __init__(self, reason: str, fix: str, change: dict[str, str]) -> None:
        super().__init__(reason, fix)
        self.change = change


def _refuse(sink: Sink, kind: str, column: str, detail: str = "") -> SchemaChangeRefused:
    change = {"table": sink.source, "kind": kind, "column": column, **({"detail": detail} if detail else {})}
    change["outcome"] = "fail"
    if kind == "type_change":
        return SchemaChangeRefused(
            f"column {column!r} of {sink.source} changed type in the source ({detail}), and "
            "schema_changes.type_change is fail; nothing of the batch was applied",
            "set schema_changes.type_change to widen in the pipeline file and start the stream again",
            change,
        )
    verb = {"add_column": "added to", "drop_column": "dropped from"}[kind]
    return SchemaChangeRefused(
        f"column {column!r} was {verb} {sink.source} in the source, and schema_changes.{kind} is fail; nothing of "
        "the batch was applied",
        f"set schema_changes.{kind} to {'evolve or ignore' if kind == 'add_column' else 'ignore or evolve'} in the "
        "pipeline file and start the stream again",
        change,
    )


def plan(
    conn: Connection,
    sinks: tuple[Sink, ...],
    policy: dict[str, str] | None = None,
    drift: dict[str, dict[str, list[str]]] | None = None,
    recorded: set[Key] | frozenset[Key] = frozenset(),
) -> Evolution:
    """`sinks` compiled from the current source catalog, adjusted to the warehouse's mirror tables by `policy`;
    `drift`: what a running stream's records showed (sink → added and missing fields); `recorded`: the changes
    `schema_history` holds (`schema_history.key`)."""
    policy = {**DEFAULT_POLICY, **(policy or {})}
    drift = drift or {}
    out = Evolution(sinks=())
    adjusted = []
    for sink in sinks:
        if sink.model is not None or not sink.known_fields:
            adjusted.append(sink)
            continue
        have = {n: t for n, t in conn.execute(COLUMNS_OF, (target_name(sink),)).fetchall() if n not in OWN_COLUMNS}
        seen = drift.get(sink.name, {})
        before = len(out.changes)
        planned = _plan_sink(sink, set(have), policy, seen, out)
        _name_a_rename([c for c in out.changes[before:] if key(c) not in recorded], planned, have)
        adjusted.append(_plan_types(planned, have, policy, seen, out))
    out.sinks = tuple(adjusted)
    return out


def _plan_sink(sink: Sink, have: set[str], policy: dict[str, str], seen: dict[str, Any], out: Evolution) -> Sink:
    mirrored = {c.name for c in sink.columns}
    known = set(sink.known_fields)
    # fields a record carried that the source no longer has (a column added, then dropped again): not mirrored
    known |= set(seen.get("added", ()))
    columns = list(sink.columns)
    backfill = False
    if have:  # the warehouse table exists: what changed since it was planned
        for column in [c for c in columns if c.name not in have]:
            change = {"table": sink.source, "kind": "add_column", "column": column.source}
            outcome = policy["add_column"]
            if outcome == "fail":
                raise _refuse(sink, "add_column", column.source)
            if outcome == "ignore":
                columns.remove(column)
            else:  # records older than the column lack it
                columns[columns.index(column)] = replace(column, rules={**column.rules, "optional": True})
                backfill = True
            out.changes.append({**change, "outcome": outcome})
        retired = []
        for name in sorted(have - mirrored):
            if name in known:  # still in the source: the pipeline file stopped mirroring it (the plan decides)
                continue
            change = {"table": sink.source, "kind": "drop_column", "column": name}
            outcome = policy["drop_column"]
            if outcome == "fail":
                raise _refuse(sink, "drop_column", name)
            if outcome == "evolve":
                out.drops.add((sink.target, name))
            else:
                retired.append(name)
                known.add(name)  # records older than the drop still carry it
            out.changes.append({**change, "outcome": outcome})
    else:
        retired = []
    # fields the records lack that the source still has: the records predate the column (NULL until re-read)
    missing = set(seen.get("missing", ())) & {c.source for c in columns}
    if missing:
        columns = [replace(c, rules={**c.rules, "optional": True}) if c.source in missing else c for c in columns]
        backfill = True
    if backfill and sink.source not in out.backfill:
        out.backfill.append(sink.source)
    return replace(sink, columns=tuple(columns), known_fields=tuple(sorted(known)), retired=tuple(retired))


def _name_a_rename(changes: list[dict[str, Any]], sink: Sink, have: dict[str, str]) -> None:
    """The WAL cannot tell `RENAME COLUMN` from a drop and an add: when, of the changes not recorded before (a column
    dropped and kept long ago is met by every plan), one column of the table went and one of the same type came,
    both say it may be a rename. Each still follows its own policy (nothing is lost under the defaults: the old
    column keeps its values, the new one is read again), and the line says what happened to both."""
    added = [c for c in changes if c["kind"] == "add_column"]
    dropped = [c for c in changes if c["kind"] == "drop_column"]
    if len(added) != 1 or len(dropped) != 1:
        return
    new = next((c for c in sink.columns if c.source == added[0]["column"]), None)
    if new is None:  # add_column: ignore leaves no column whose type could be compared
        return
    if have.get(dropped[0]["column"]) != new.sql_type:
        return
    added[0]["detail"] = f"renamed from {dropped[0]['column']}?"
    dropped[0]["detail"] = f"renamed to {added[0]['column']}?"


def _plan_types(sink: Sink, have: dict[str, str], policy: dict[str, str], seen: dict[str, Any], out: Evolution) -> Sink:
    """Columns whose source type is no longer the warehouse's, by `policy["type_change"]`; columns whose values did
    not fit (`seen["misfit"]`) but whose type did not change are marked `type_checked`."""
    misfit = set(seen.get("misfit", ()))
    columns = []
    for column in sink.columns:
        current = have.get(column.name)
        if current is None or current == column.sql_type:
            if column.source in misfit:  # the catalog does not explain the value: the record's own fault
                column = replace(column, rules={**column.rules, "type_checked": True})
            columns.append(column)
            continue
        detail = f"{current} → {column.sql_type}"
        change = {"table": sink.source, "kind": "type_change", "column": column.source, "detail": detail}
        if widens(current, column.sql_type):
            outcome = "widen"
        elif widens(column.sql_type, current) and not column.kind.endswith("timestamp"):
            # narrowed in the source: every value still fits the warehouse. Not a timestamp: Debezium sends those of
            # precision 0-3 in milliseconds, 4-6 in microseconds, so the source's type decides how values are read
            outcome = "keep"
            column = replace(column, sql_type=current, kind=_wider_kind(column.kind, current))
        else:  # neither holds the other's values: the warehouse plan refuses it without --allow-destructive
            columns.append(column)
            continue
        if policy["type_change"] == "fail":
            raise _refuse(sink, "type_change", column.source, detail)
        out.changes.append({**change, "outcome": outcome})
        columns.append(column)
    return replace(sink, columns=tuple(columns))


def _wider_kind(kind: str, warehouse_type: str) -> str:
    """The converter for a warehouse type wider than the source column's (`kind`)."""
    array = warehouse_type.endswith("[]")
    base = warehouse_type.removesuffix("[]")
    found = "numeric" if base.startswith("numeric") else _KIND_OF.get(base)
    if found is None:
        return kind
    return f"array:{found}" if array else found


def drift_to_plan(last: list, drift: SchemaDrift, batches: int) -> dict:
    """The drift a re-plan covers: `drift`'s, and while no batch was applied since the last re-plan, also what that
    one covered (`last`: [its drift, the batches applied then], updated here). The same batch read again holds
    records of every shape met since: a replay from before a column was dropped and before another was added
    shows one, then the other. Nothing new since the last re-plan: the catalog does not explain it (ConfigError).
    The last re-plan's misfits are not carried: a column it widened fits now, and marking it `type_checked` would
    send the values of a second widening in this run to dead letters instead of a re-plan."""
    seen = drift.drift
    if last and batches == last[1]:
        kept = {sink: {k: v for k, v in change.items() if k != "misfit"} for sink, change in last[0].items()}
        seen = StageStats.union_drift(kept, drift.drift)
        if seen == last[0]:
            raise ConfigError(
                f"{drift.reason}, and again after the stream re-planned its tables from the source catalog",
                "see the records with 'aladia consume'; fix the source table or the pipeline file, then start again",
            )
    last[:] = [seen, batches]
    return seen
