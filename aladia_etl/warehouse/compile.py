"""A pipeline file compiled: its models (`warehouse.model_tables`) and mirrors (`warehouse.sinks`) into one set of
sinks, checked for names that would collide; the built-in pipeline; a check of declared models against the source."""

from __future__ import annotations

from functools import cache
from typing import Any

from aladia_etl.core.errors import ConfigError
from aladia_etl.core.pipeline import Pipeline
from aladia_etl.warehouse.model_tables import builtin_model, compile_model
from aladia_etl.warehouse.sinks import CompiledPipeline, Sink, compile_mirrors


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
    staging = [(s.staging_schema, s.staging_table) for s in sinks]
    shared = sorted({t for t in staging if staging.count(t) > 1})
    if shared:
        clash = [s.name for s in sinks if (s.staging_schema, s.staging_table) == shared[0]]
        raise pipeline.error("models", f"{clash[0]} and {clash[1]} would share a staging table", "rename one of them")
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


def check_models_against(compiled: CompiledPipeline, catalog: dict[str, Any], builtin_too: bool = True) -> None:
    """Every model's source table and column exists in the source database (`builtin_too=False`: only the models the
    file declares — the built-in model's tables are made by `aladia init`)."""
    pipeline = compiled.pipeline
    for i, entry in enumerate(pipeline.spec.models):
        if isinstance(entry, str) and not builtin_too:
            continue
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
                if found.column(rule.source) is None:
                    raise pipeline.error(
                        f"{where}.tables[{j}].columns[{k}]",
                        f'column "{rule.source}" is not in {table.from_}',
                        "fix the name (from: the source column)",
                    )
