"""A pipeline compiled into sinks: what each captured source table becomes in the warehouse.

A sink is plain data (picklable, JSON-able: the engines ship it to their workers): one source table → one warehouse
table, its columns (where each value comes from, its warehouse type, the converter that checks and converts it, the
cleansing rules), the key, how deletes are kept, and the staging table the batch's rows are COPYed into. Models
(the built-in `orders`, or models declared in the pipeline file) and mirrors (a user's tables, taken from the source
catalog) compile to the same sinks, so that the processing path (`processing.bundle`) and the apply
(`warehouse.loader`) are one path for every table, with no per-table code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from aladia_etl.core.pipeline import Pipeline, PipelineFile, matches
from aladia_etl.source.schema import OWN_SOURCE_TABLES

STAGING_SCHEMA = "aladia_staging"
TOMBSTONES_SCHEMA = "aladia_deleted"  # hard deletes' positions (a schema of their own: no name can collide)
# The columns aladia adds to every warehouse table and staging table: a source column cannot take their names.
OWN_COLUMNS = frozenset(
    (
        "is_deleted",
        "source_commit_lsn",
        "source_lsn",
        "source_ts",
        "loaded_at",
        "batch_token",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "staged_at",
    )
)
# The warehouse's own tables (and the built-in model's): a declared model cannot write to them.
RESERVED_TABLES = frozenset(
    (
        "pipeline_batches",
        "pipeline_offsets",
        "pipeline_gaps",
        "pipeline_streams",
        "pipeline_topics",
        "dead_letters",
        "schema_version",
        "daily_sales_summary",
        "dim_customer",
        "dim_product",
        "fact_order",
        "fact_order_item",
    )
)
MAX_IDENTIFIER = 63
# Tables of aladia's own in a source database: never mirrored.
OWN_TABLES = frozenset(f"public.{t}" for t in OWN_SOURCE_TABLES)


@dataclass(frozen=True)
class SinkColumn:
    name: str  # the warehouse column
    source: str  # the field of the source row image
    sql_type: str  # the warehouse type, as PostgreSQL's format_type() writes it (DDL, and compared with the warehouse)
    kind: str  # the converter: int2 … bytea, "array:<kind>"
    required: bool = False
    # model rules: clean (list), one_of (list), min / max (decimal strings), check, derive; numeric precision, scale
    rules: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sink:
    name: str  # unique: staging, metrics, dead letters, status and `verify` name the sink by it
    source_schema: str
    source_table: str
    target_schema: str
    target_table: str
    staging_schema: str
    staging_table: str
    columns: tuple[SinkColumn, ...]
    key: tuple[str, ...]
    deletes: str = "soft"  # soft: kept with is_deleted; hard: removed (their positions kept in the tombstones)
    model: str | None = None  # the model it belongs to; None for a mirror
    # a mirror: every column the source table had when it was compiled (mirrored or not); a field outside them
    # means the table changed (`warehouse.evolution`). Empty: not checked (models take only their columns).
    known_fields: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()  # warehouse columns of source columns dropped since: kept, no longer filled
    summary: str | None = None  # daily_sales: the orders model's summary, moved by each batch's difference

    @property
    def source(self) -> str:
        return f"{self.source_schema}.{self.source_table}"

    @property
    def target(self) -> str:
        return f"{self.target_schema}.{self.target_table}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sink:
        columns = tuple(SinkColumn(**c) for c in data["columns"])
        return cls(
            **{
                **data,
                "columns": columns,
                "key": tuple(data["key"]),
                "known_fields": tuple(data.get("known_fields", ())),
                "retired": tuple(data.get("retired", ())),
            }
        )


def capture_order(tables: Iterable[str]) -> tuple[str, ...]:
    """Source tables (`schema.table`) in the one order that names a Spark checkpoint (`checkpoints.checkpoint_name`):
    the demo tables in their own order, as the built-in pipeline always had them, else sorted."""
    chosen = set(tables)
    demo = ("public.customers", "public.products", "public.orders", "public.order_items")
    if chosen <= set(demo):
        return tuple(t for t in demo if t in chosen)
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class CompiledPipeline:
    sinks: tuple[Sink, ...]
    pipeline: Pipeline

    @property
    def captured(self) -> tuple[str, ...]:
        """The source tables captured (`schema.table`), in a stable order (the demo tables in their own order, as
        the built-in pipeline always had them)."""
        return capture_order(s.source for s in self.sinks)

    def spec(self) -> list[dict[str, Any]]:
        """Plain data for the engines' workers (`bundle.sinks_for`)."""
        return [s.as_dict() for s in self.sinks]

    def by_name(self, name: str) -> Sink | None:
        return next((s for s in self.sinks if s.name == name), None)


# -- mirrors ---------------------------------------------------------------------------------------------------------
def identifier(text: str) -> str:
    """`text` as a PostgreSQL identifier of at most 63 bytes (longer names keep a hash of the whole)."""
    if len(text.encode()) <= MAX_IDENTIFIER:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    cut = text.encode()[: MAX_IDENTIFIER - 11].decode(errors="ignore")
    return f"{cut}_{digest}"


def mirror_target(spec: PipelineFile, source: str) -> str:
    schema, _, table = source.partition(".")
    override = spec.tables.overrides.get(source)
    if override is not None and override.target:
        return override.target
    return identifier(table if schema == "public" else f"{schema}__{table}")


def compile_mirrors(pipeline: Pipeline, catalog: dict[str, Any]) -> list[Sink]:
    """The mirrored tables: those matching `tables.include` and not `tables.exclude`, with the columns and key the
    source catalog gives (`source.catalog.Table`), the overrides applied. Raises ConfigError naming the file's path."""
    spec = pipeline.spec
    sinks = []
    chosen = sorted(
        name
        for name in catalog
        if name not in OWN_TABLES and matches(name, spec.tables.include) and not matches(name, spec.tables.exclude)
    )
    for pattern_list, label in ((spec.tables.include, "include"), (spec.tables.exclude, "exclude")):
        for k, pattern in enumerate(pattern_list):
            if not any(matches(name, [pattern]) for name in catalog if label == "exclude" or name not in OWN_TABLES):
                raise pipeline.error(
                    f"tables.{label}[{k}]",
                    f"{pattern!r} matches no table of the source database",
                    "fix the pattern (schema.table, with * ? [...]) or create the table",
                )
    for name in spec.tables.overrides:
        if name not in catalog:
            raise pipeline.error(
                f"tables.overrides.{_quoted(name)}", f"{name} is not a table of the source", "fix the name"
            )
        if name not in chosen:
            raise pipeline.error(
                f"tables.overrides.{_quoted(name)}",
                f"{name} is not mirrored (tables.include does not match it)",
                "include it, or remove the override",
            )
    targets: dict[str, str] = {}
    for name in chosen:
        table = catalog[name]
        override = spec.tables.overrides.get(name)
        where = f"tables.overrides.{_quoted(name)}"
        excluded = set(override.exclude_columns) if override else set()
        for column in sorted(excluded):
            if table.column(column) is None:
                raise pipeline.error(f"{where}.exclude_columns", f'column "{column}" is not in {name}', "fix the name")
        key = tuple(override.key) if override and override.key else table.primary_key
        if not key:
            raise pipeline.error(
                f"tables.include (matches {name})" if not override else where,
                f"{name} has no primary key",
                f'give it one, or set tables.overrides."{name}".key to columns that identify a row',
            )
        for column in key:
            if table.column(column) is None:
                raise pipeline.error(f"{where}.key", f'column "{column}" is not in {name}', "name columns of the table")
            if column in excluded:
                raise pipeline.error(f"{where}.key", f'key column "{column}" is excluded', "keep it, or change the key")
        renames = dict(override.rename) if override else {}
        for source_name in sorted(renames):
            if table.column(source_name) is None:
                raise pipeline.error(f"{where}.rename", f'column "{source_name}" is not in {name}', "fix the name")
        columns = []
        for column in table.columns:
            if column.name in excluded:
                continue
            warehouse_name = renames.get(column.name, column.name)
            if warehouse_name in OWN_COLUMNS:
                raise pipeline.error(
                    f"tables.include (matches {name})" if not override else where,
                    f'column "{column.name}" of {name} has the name of a column aladia adds to every table',
                    f'rename it: tables.overrides."{name}".rename: {{{column.name}: source_{column.name}}}',
                )
            if column.kind is None:
                raise pipeline.error(
                    f"tables.include (matches {name})",
                    f'column "{column.name}" of {name} has type {column.declared}, which aladia does not mirror',
                    f'exclude it: tables.overrides."{name}".exclude_columns: [{column.name}]',
                )
            # a mirror keeps what the source holds: numeric NaN and ±Infinity included
            rules = {"finite": False} if column.kind.endswith("numeric") else {}
            columns.append(
                SinkColumn(warehouse_name, column.name, column.warehouse, column.kind, column.name in key, rules)
            )
        names = [c.name for c in columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise pipeline.error(f"{where}.rename", f"two columns of {name} would be named {twice[0]!r}", "rename one")
        target = mirror_target(spec, name)
        if target in targets:
            raise pipeline.error(
                f"tables.overrides.{_quoted(name)}.target" if override and override.target else "tables.include",
                f"{name} and {targets[target]} would both become {spec.target_schema}.{target}",
                "give one of them another target",
            )
        targets[target] = name
        sinks.append(
            Sink(
                name=identifier(f"{spec.target_schema}.{target}"),
                source_schema=table.schema,
                source_table=table.name,
                target_schema=spec.target_schema,
                target_table=target,
                staging_schema=STAGING_SCHEMA,
                staging_table=identifier(f"{spec.target_schema}__{target}"),
                columns=tuple(columns),
                key=tuple(renames.get(k, k) for k in key),
                deletes=override.deletes if override else "soft",
                known_fields=tuple(c.name for c in table.columns),
            )
        )
    return sinks


def _quoted(name: str) -> str:
    return f'"{name}"'


# -- the whole pipeline ----------------------------------------------------------------------------------------------
