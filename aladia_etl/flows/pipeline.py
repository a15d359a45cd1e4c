"""`aladia pipeline validate` and `plan`: a pipeline file checked against the live source catalog, and the warehouse
DDL it implies against the current warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aladia_etl.core.settings import Settings


def _catalog(settings: Settings) -> dict:
    from aladia_etl.source.bootstrap import connect
    from aladia_etl.source.catalog import read_catalog

    with connect(settings) as conn:
        return read_catalog(conn)


def compile_file(settings: Settings, path: Path | None, catalog: dict | None = None, pipeline=None):
    """The pipeline of `path` (None: the built-in one) compiled against the source catalog."""
    from aladia_etl.core.pipeline import load
    from aladia_etl.warehouse.compile import compile_pipeline

    pipeline = pipeline or load(path)
    if catalog is None and pipeline.spec.tables.include:
        catalog = _catalog(settings)
    return compile_pipeline(pipeline, catalog)


def validate(settings: Settings, path: Path | None) -> dict[str, Any]:
    """Model and catalog checks; raises ConfigError (one line naming the file and the path in it) for the first
    problem. Returns what the pipeline captures and the warnings (tables whose replica identity is not FULL)."""
    from aladia_etl.core.pipeline import load
    from aladia_etl.source.bootstrap import connect
    from aladia_etl.source.catalog import duplicate_key, read_catalog
    from aladia_etl.warehouse.compile import check_models_against, compile_models

    pipeline = load(path)  # the file's own problems first: they need no database
    compile_models(pipeline)
    with connect(settings) as conn:
        catalog = read_catalog(conn)
        compiled = compile_file(settings, path, catalog, pipeline)
        check_models_against(compiled, catalog)
        pipeline = compiled.pipeline
        for name, override in pipeline.spec.tables.overrides.items():
            if override.key:
                found = duplicate_key(conn, catalog[name], tuple(override.key))
                if found is not None:
                    raise pipeline.error(
                        f'tables.overrides."{name}".key',
                        f"({', '.join(override.key)}) is not unique in {name}: ({', '.join(map(str, found))}) "
                        "appears more than once",
                        "choose columns that identify one row",
                    )
    warnings = [w for w in (replica_warning(catalog[s]) for s in compiled.captured if s in catalog) if w]
    return {
        "file": compiled.pipeline.label,
        "tables": [
            {
                "source": s.source,
                "target": s.target,
                "kind": f"model {s.model}" if s.model else "mirror",
                "key": list(s.key),
                "columns": len(s.columns),
                "deletes": s.deletes,
            }
            for s in compiled.sinks
        ],
        "captured": list(compiled.captured),
        "warnings": warnings,
    }


IDENTITIES = {"d": "DEFAULT", "n": "NOTHING", "i": "USING INDEX", "f": "FULL"}


def replica_warning(table) -> str | None:
    if table.replica_identity == "f":
        return None
    return (
        f"{table.qualified} has REPLICA IDENTITY {IDENTITIES.get(table.replica_identity, '?')}: deletes and updates "
        "would not carry the whole old row nor unchanged large (TOASTed) values — run "
        f"'ALTER TABLE {table.qualified} REPLICA IDENTITY FULL' (aladia init --fix does it)"
    )


def plan(settings: Settings, path: Path | None):
    """The warehouse changes the pipeline needs (nothing is changed)."""
    from aladia_etl.warehouse import ddl, loader

    compiled = compile_file(settings, path)
    with loader.connect(settings) as conn:
        return ddl.plan(conn, compiled.sinks)
