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
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from aladia_etl.core.errors import ConfigError
from aladia_etl.core.pipeline import Model, Pipeline, PipelineFile, matches

STAGING_SCHEMA = "aladia_staging"
MAX_IDENTIFIER = 63
# Tables of aladia's own in a source database: never mirrored.
OWN_TABLES = frozenset({"public.aladia_heartbeat", "public.aladia_signal"})

# A model column's type → (the warehouse type, the converter kind). `numeric(p,s)` and `varchar(n)` take modifiers.
MODEL_TYPES = {
    "smallint": ("smallint", "int2"),
    "integer": ("integer", "int4"),
    "int": ("integer", "int4"),
    "bigint": ("bigint", "int8"),
    "numeric": ("numeric", "numeric"),
    "real": ("real", "float4"),
    "double precision": ("double precision", "float8"),
    "boolean": ("boolean", "bool"),
    "text": ("text", "text"),
    "uuid": ("uuid", "uuid"),
    "date": ("date", "date"),
    "timestamptz": ("timestamp with time zone", "timestamptz"),
    "timestamp with time zone": ("timestamp with time zone", "timestamptz"),
    "timestamp": ("timestamp without time zone", "timestamp"),
    "jsonb": ("jsonb", "jsonb"),
}
_NUMERIC = re.compile(r"numeric\s*\(\s*(\d{1,4})\s*(?:,\s*(\d{1,4})\s*)?\)")


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
    summary: str | None = None  # daily_sales: the orders model's summary recompute

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
        return cls(**{**data, "columns": columns, "key": tuple(data["key"])})


@dataclass(frozen=True)
class CompiledPipeline:
    sinks: tuple[Sink, ...]
    pipeline: Pipeline

    @property
    def captured(self) -> tuple[str, ...]:
        """The source tables captured (`schema.table`), in a stable order (the demo tables in their own order, as
        the built-in pipeline always had them)."""
        tables = {s.source for s in self.sinks}
        demo = ("public.customers", "public.products", "public.orders", "public.order_items")
        if tables <= set(demo):
            return tuple(t for t in demo if t in tables)
        return tuple(sorted(tables))

    def spec(self) -> list[dict[str, Any]]:
        """Plain data for the engines' workers (`bundle.sinks_for`)."""
        return [s.as_dict() for s in self.sinks]

    def by_name(self, name: str) -> Sink | None:
        return next((s for s in self.sinks if s.name == name), None)


# -- models ----------------------------------------------------------------------------------------------------------
@cache
def builtin_model(name: str) -> Model:
    import yaml

    text = resources.files("aladia_etl.warehouse").joinpath("models", f"{name}.yaml").read_text(encoding="utf-8")
    return Model.model_validate(yaml.safe_load(text))


def model_type(text: str) -> tuple[str, str, dict[str, int]]:
    """A model column's type → (warehouse type, converter kind, modifiers). Raises ValueError."""
    normal = " ".join(text.lower().split())
    if normal in MODEL_TYPES:
        sql, kind = MODEL_TYPES[normal]
        return sql, kind, {}
    found = _NUMERIC.fullmatch(normal)
    if found:
        precision, scale = int(found.group(1)), int(found.group(2) or 0)
        if not 1 <= precision <= 1000 or scale > precision:
            raise ValueError(f"numeric({precision},{scale}) is not a valid precision and scale")
        return f"numeric({precision},{scale})", "numeric", {"precision": precision, "scale": scale}
    known = ", ".join([*MODEL_TYPES, "numeric(p,s)"])
    raise ValueError(f"unknown type {text!r} (one of: {known})")


def compile_model(model: Model, where: str, pipeline: Pipeline) -> list[Sink]:
    sinks = []
    for i, table in enumerate(model.tables):
        columns = []
        for j, rule in enumerate(table.columns):
            try:
                sql_type, kind, modifiers = model_type(rule.type)
            except ValueError as exc:
                raise pipeline.error(
                    f"{where}.tables[{i}].columns[{j}].type", str(exc), "use one of the types listed"
                ) from None
            rules: dict[str, Any] = {k: v for k, v in modifiers.items()}
            if rule.clean:
                if kind != "text":
                    raise pipeline.error(
                        f"{where}.tables[{i}].columns[{j}].clean",
                        f"cleaning applies to text, not {rule.type}",
                        "remove it",
                    )
                rules["clean"] = list(rule.clean)
            if rule.one_of is not None:
                rules["one_of"] = list(rule.one_of)
            if rule.label:
                rules["label"] = rule.label
            for bound in ("min", "max"):
                value = getattr(rule, bound)
                if value is not None:
                    if kind not in ("int2", "int4", "int8", "numeric", "float4", "float8"):
                        raise pipeline.error(
                            f"{where}.tables[{i}].columns[{j}].{bound}",
                            f"{bound} applies to numbers, not {rule.type}",
                            "remove it",
                        )
                    rules[bound] = str(Decimal(value))
            if rule.check:
                rules["check"] = rule.check
            if rule.derive:
                if kind != "date":
                    raise pipeline.error(
                        f"{where}.tables[{i}].columns[{j}].derive",
                        "utc_day gives a date: the column's type must be date",
                        "set type: date",
                    )
                rules["derive"] = rule.derive
            columns.append(SinkColumn(rule.name, rule.source, sql_type, kind, rule.required, rules))
        schema, _, name = table.from_.partition(".")
        builtin = model.name in ("orders",) and where.startswith("builtin")
        sinks.append(
            Sink(
                name=table.name,
                source_schema=schema,
                source_table=name,
                target_schema="public",
                target_table=table.to,
                staging_schema="public" if builtin else STAGING_SCHEMA,
                staging_table=f"stg_{table.name}" if builtin else table.name,
                columns=tuple(columns),
                key=tuple(table.key),
                model=model.name,
                summary=model.summary,
            )
        )
    return sinks


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
        columns = []
        for column in table.columns:
            if column.name in excluded:
                continue
            if column.kind is None:
                raise pipeline.error(
                    f"tables.include (matches {name})",
                    f'column "{column.name}" of {name} has type {column.declared}, which aladia does not mirror',
                    f'exclude it: tables.overrides."{name}".exclude_columns: [{column.name}]',
                )
            # a mirror keeps what the source holds: numeric NaN and ±Infinity included
            rules = {"finite": False} if column.kind.endswith("numeric") else {}
            columns.append(
                SinkColumn(column.name, column.name, column.warehouse, column.kind, column.name in key, rules)
            )
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
                key=key,
                deletes=override.deletes if override else "soft",
            )
        )
    return sinks


def _quoted(name: str) -> str:
    return f'"{name}"'


# -- the whole pipeline ----------------------------------------------------------------------------------------------
def compile_models(pipeline: Pipeline) -> list[Sink]:
    """The file's models (built-in or declared): what needs no database. Raises ConfigError for a model's problem,
    and for a file that captures nothing."""
    if not pipeline.spec.tables.include and not pipeline.spec.models:
        raise pipeline.error("", "captures no table: it has no tables.include and no models", "add one of them")
    sinks: list[Sink] = []
    for i, entry in enumerate(pipeline.spec.models):
        if isinstance(entry, str):
            sinks += compile_model(builtin_model(entry), f"builtin:{entry}", pipeline)
        else:
            sinks += compile_model(entry, f"models[{i}]", pipeline)
    _unique(pipeline, sinks)
    return sinks


def _unique(pipeline: Pipeline, sinks: list[Sink]) -> None:
    names = [s.name for s in sinks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise pipeline.error("models", f"two tables are named {twice[0]!r}", "rename one of them")
    targets = [s.target for s in sinks]
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise pipeline.error("models", f"two tables write to {twice[0]}", "give one of them another table")


def compile_pipeline(pipeline: Pipeline, catalog: dict[str, Any] | None = None) -> CompiledPipeline:
    """Models (built-in or declared) and, with the source catalog, mirrors. Without a catalog, a file that mirrors
    tables cannot be compiled (ConfigError): the caller reads the catalog first."""
    sinks = compile_models(pipeline)
    if pipeline.spec.tables.include:
        if catalog is None:
            raise ConfigError(
                f"{pipeline.label}: mirrors tables, which needs the source database's catalog",
                "start the source (aladia up) or check ALADIA_POSTGRES__*",
            )
        sinks += compile_mirrors(pipeline, catalog)
    _unique(pipeline, sinks)
    return CompiledPipeline(tuple(sinks), pipeline)


@cache
def builtin() -> CompiledPipeline:
    """The pipeline without a file: the built-in orders model."""
    from aladia_etl.core.pipeline import default_pipeline

    return compile_pipeline(default_pipeline())


def check_models_against(compiled: CompiledPipeline, catalog: dict[str, Any]) -> None:
    """`pipeline validate`: every model's source table and column exists in the source database."""
    pipeline = compiled.pipeline
    for i, entry in enumerate(pipeline.spec.models):
        model = builtin_model(entry) if isinstance(entry, str) else entry
        where = f"models[{i}]"
        for j, table in enumerate(model.tables):
            found = catalog.get(table.from_)
            if found is None:
                raise pipeline.error(
                    f"{where}.tables[{j}].from",
                    f"{table.from_} is not a table of the source database",
                    "create it (aladia init for the built-in model) or fix the name",
                )
            for k, rule in enumerate(table.columns):
                if rule.derive is None and found.column(rule.source) is None:
                    raise pipeline.error(
                        f"{where}.tables[{j}].columns[{k}]",
                        f'column "{rule.source}" is not in {table.from_}',
                        "fix the name (from: the source column)",
                    )
