"""Models: source tables into warehouse tables through declared columns and cleansing rules (the built-in `orders`
model is one, `warehouse/models/orders.yaml`), compiled to sinks like mirrors are."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from aladia_etl.core.pipeline import Model, Pipeline
from aladia_etl.warehouse.sinks import OWN_COLUMNS, RESERVED_TABLES, STAGING_SCHEMA, Sink, SinkColumn

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
            rules: dict[str, Any] = dict(modifiers)
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
        if not builtin:
            if model.summary is not None:
                raise pipeline.error(f"{where}.summary", "daily_sales is the built-in orders model's", "remove it")
            if table.to in RESERVED_TABLES or table.to.startswith(("stg_", "v_")):
                raise pipeline.error(
                    f"{where}.tables[{i}].to", f"{table.to} is a table of aladia's own", "choose another name"
                )
            for j, rule in enumerate(table.columns):
                if rule.name in OWN_COLUMNS:
                    raise pipeline.error(
                        f"{where}.tables[{i}].columns[{j}].name",
                        f"{rule.name!r} is a column aladia adds to every table",
                        "name the warehouse column otherwise",
                    )
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
