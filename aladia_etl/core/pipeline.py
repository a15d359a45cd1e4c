"""The pipeline file (`aladia.yaml`): which source tables aladia captures, and what it makes of them in the warehouse —
a mirror of each table (the default for a user's tables) and/or models (the built-in `orders` star schema, or models
declared in the file). One pydantic model, validated before anything runs; every error is one line naming the file,
the path inside it and the fix (exit code 3).

Without a file, aladia runs the built-in `orders` model on its four demo tables, exactly as before pipeline files.
The file is found as `--pipeline PATH`, else ALADIA_PIPELINE, else `./aladia.yaml`.

This module knows the file only; what it means against the live source catalog and the warehouse is compiled in
`warehouse.sinks`.
"""

from __future__ import annotations

import fnmatch
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aladia_etl.core.errors import ConfigError

DEFAULT_FILE = "aladia.yaml"
BUILTIN_MODELS = ("orders",)
_PATTERN = re.compile(r"[^.\s]+\.[^.\s]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
CLEANING = ("trim", "squeeze", "lower", "upper")
CHECKS = ("email",)
DERIVED = ("utc_day",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class TableOverride(_Strict):
    """Settings of one mirrored table."""

    target: str | None = Field(None, description="the warehouse table's name (default: the source table's)")
    key: list[str] | None = Field(
        None, description="columns that identify a row (default: the primary key; required without one)", min_length=1
    )
    deletes: Literal["soft", "hard"] = Field(
        "soft", description="soft: the row stays with is_deleted = true (the default); hard: the row is removed"
    )
    exclude_columns: list[str] = Field(default_factory=list, description="source columns not mirrored")
    rename: dict[str, str] = Field(
        default_factory=dict,
        description="source column → warehouse column (e.g. a column named like aladia's own: is_deleted)",
    )

    @field_validator("rename")
    @classmethod
    def _renames(cls, value: dict[str, str]) -> dict[str, str]:
        for new in value.values():
            if not new or len(new.encode()) > 63:
                raise ValueError(f"{new!r} is not a column name (1 to 63 bytes)")
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.fullmatch(value):
            raise ValueError(f"{value!r} is not a table name (letters, digits, '_', at most 63)")
        return value


class Tables(_Strict):
    """Which source tables are mirrored: `schema.table` glob patterns (`*`, `?`, `[…]`)."""

    include: list[str] = Field(default_factory=list, description="patterns of tables to mirror, e.g. public.*")
    exclude: list[str] = Field(default_factory=list, description="patterns of tables not to mirror")
    overrides: dict[str, TableOverride] = Field(
        default_factory=dict, description='per table ("schema.table"): target, key, deletes, exclude_columns'
    )

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _PATTERN.fullmatch(value):
                raise ValueError(f"{value!r} is not a schema.table pattern (e.g. public.* or sales.orders)")
        return values

    @field_validator("overrides")
    @classmethod
    def _names(cls, values: dict[str, TableOverride]) -> dict[str, TableOverride]:
        for name in values:
            if not _PATTERN.fullmatch(name) or any(c in name for c in "*?["):
                raise ValueError(f"{name!r} is not a schema.table name")
        return values


Number = Annotated[Decimal, Field(description="a number")]


class ColumnRule(_Strict):
    """One warehouse column of a model table: where its value comes from, its type, and the cleansing rules a value
    must pass (a value that does not is a dead letter with the reason)."""

    name: str = Field(description="the warehouse column")
    from_: str | None = Field(None, alias="from", description="the source column (default: the same name)")
    type: str = Field(description="the warehouse type: bigint, integer, smallint, numeric(p,s), text, date, …")
    required: bool = Field(False, description="a missing or null value is rejected")
    clean: list[Literal["trim", "squeeze", "lower", "upper"]] = Field(
        default_factory=list,
        description="applied in order to text: trim (ends), squeeze (runs of whitespace; empty is rejected), "
        "lower, upper",
    )
    one_of: list[str] | None = Field(None, description="the value (after cleaning) must be one of these")
    label: str | None = Field(None, description="what the value is, in a dead letter's reason (e.g. order status)")
    min: Number | None = Field(None, description="the smallest value allowed")
    max: Number | None = Field(None, description="the largest value allowed")
    check: Literal["email"] | None = Field(None, description="email: looks like an e-mail address")
    derive: Literal["utc_day"] | None = Field(None, description="utc_day: the UTC date of a timestamp")

    @field_validator("name", "from_")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("is empty")
        return value

    @property
    def source(self) -> str:
        return self.from_ or self.name


class ModelTable(_Strict):
    name: str = Field(description="the model table's own name (staging, metrics and dead letters use it)")
    from_: str = Field(alias="from", description="the source table, schema.table")
    to: str = Field(description="the warehouse table")
    key: list[str] = Field(min_length=1, description="the warehouse columns that identify a row")
    columns: list[ColumnRule] = Field(min_length=1)

    @field_validator("name", "to")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError(f"{value!r} is not a table name (letters, digits, '_', at most 63)")
        return value

    @field_validator("from_")
    @classmethod
    def _source(cls, value: str) -> str:
        if not _PATTERN.fullmatch(value) or any(c in value for c in "*?["):
            raise ValueError(f"{value!r} is not a schema.table name")
        return value

    @model_validator(mode="after")
    def _columns(self) -> ModelTable:
        names = [c.name for c in self.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"column {twice[0]!r} is declared twice")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"key column {missing[0]!r} is not one of the columns")
        return self


class Model(_Strict):
    """Source tables feeding warehouse tables through column mappings and cleansing rules."""

    name: str
    description: str | None = None
    tables: list[ModelTable] = Field(min_length=1)
    summary: Literal["daily_sales"] | None = Field(
        None, description="daily_sales: the daily sales summary of the orders model, moved by each batch's difference"
    )

    @model_validator(mode="after")
    def _unique(self) -> Model:
        for attr in ("name", "to"):
            values = [getattr(t, attr) for t in self.tables]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"two tables of the model have the {attr} {twice[0]!r}")
        return self


class SchemaChanges(_Strict):
    """What a running pipeline does when a mirrored source table's columns change (docs/PIPELINES.md)."""

    add_column: Literal["evolve", "ignore", "fail"] = Field(
        "evolve",
        description="a column added in the source: evolve (added to the warehouse table, existing rows re-read), "
        "ignore (not mirrored), fail (the stream stops, nothing applied)",
    )
    drop_column: Literal["ignore", "evolve", "fail"] = Field(
        "ignore",
        description="a column dropped in the source: ignore (the warehouse keeps it, no longer filled), evolve "
        "(dropped from the warehouse too), fail (the stream stops, nothing applied)",
    )
    type_change: Literal["widen", "fail"] = Field(
        "widen",
        description="a column's type changed in the source: widen (a wider type is widened in the warehouse; a "
        "narrower one keeps the warehouse's), fail (the stream stops, nothing applied); any other change stops the "
        "stream unless it runs with --allow-destructive",
    )
    new_table: Literal["capture", "ignore"] = Field(
        "capture",
        description="a table created in the source that tables.include matches: capture (the publication, the "
        "connector and the warehouse follow while the stream runs, its rows read through a snapshot), ignore (left "
        "to the next 'aladia init' and 'aladia cdc register')",
    )


class PipelineFile(_Strict):
    version: Literal[1] = Field(1, description="the file format's version")
    tables: Tables = Field(default_factory=Tables)
    target_schema: str = Field("mirror", description="the warehouse schema of mirrored tables")
    schema_changes: SchemaChanges = Field(
        default_factory=SchemaChanges, description="what a column added or dropped in a mirrored table does"
    )
    models: list[str | Model] = Field(
        default_factory=list, description="built-in models by name (orders) or models declared here"
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML's true is no version
            raise ValueError("must be the number 1")
        return value

    @field_validator("target_schema")
    @classmethod
    def _schema(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value) or value.lower() in ("public", "pg_catalog", "information_schema"):
            raise ValueError(f"{value!r} is not a schema aladia may fill (letters, digits, '_'; not public)")
        return value

    @field_validator("models")
    @classmethod
    def _models(cls, values: list[str | Model]) -> list[str | Model]:
        names = []
        for value in values:
            if isinstance(value, str) and value not in BUILTIN_MODELS:
                raise ValueError(f"unknown built-in model {value!r} (built in: {', '.join(BUILTIN_MODELS)})")
            names.append(value if isinstance(value, str) else value.name)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"model {twice[0]!r} is listed twice")
        return values

    @property
    def uses_builtin_orders(self) -> bool:
        return "orders" in self.models


class Pipeline:
    """A validated pipeline file and where it came from (None: the built-in default)."""

    def __init__(self, spec: PipelineFile, path: Path | None) -> None:
        self.spec = spec
        self.path = path

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else "the built-in pipeline (no aladia.yaml)"

    def error(self, where: str, problem: str, fix: str) -> ConfigError:
        """One line: `<file>: <path>: <problem> — <fix>`."""
        name = self.path.name if self.path is not None else "built-in pipeline"
        return ConfigError(f"{name}: {where}: {problem}" if where else f"{name}: {problem}", fix)


def default_pipeline() -> Pipeline:
    """No file: the built-in orders model on its demo tables, nothing mirrored."""
    return Pipeline(PipelineFile(models=["orders"]), None)


def matches(name: str, patterns: list[str]) -> bool:
    """Whether `schema.table` matches one of the glob patterns (case-sensitive, as PostgreSQL's quoted names)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def locate(option: Path | None, setting: Path | None, cwd: Path | None = None) -> Path | None:
    """The pipeline file to use: `--pipeline`, else ALADIA_PIPELINE, else ./aladia.yaml when it exists."""
    if option is not None:
        return option
    if setting is not None:
        return setting
    candidate = (cwd or Path.cwd()) / DEFAULT_FILE
    return candidate if candidate.is_file() else None


def load(path: Path | None) -> Pipeline:
    """Read and validate a pipeline file (None: the built-in default). Every problem is one ConfigError line."""
    if path is None:
        return default_pipeline()
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such pipeline file", "check --pipeline or ALADIA_PIPELINE") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a pipeline file", "give the path of a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: is not UTF-8 text", "save the pipeline file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})", "check the file's permissions") from None
    data = _parse_yaml(name, text)
    try:
        spec = PipelineFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(name, exc) from None
    return Pipeline(spec, path)


def _parse_yaml(name: str, text: str) -> Any:
    import yaml

    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{name}: is nested too deeply", "simplify the YAML") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError(f"{name}: {where}{exc.problem or 'invalid YAML'}", "fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML ({type(exc).__name__})", "fix the YAML syntax") from None
    if data is None:
        raise ConfigError(f"{name}: is empty", "describe the pipeline (see 'aladia pipeline schema')")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}: the top level is a {type(data).__name__}, not a mapping",
            "start the file with keys such as tables: and models:",
        )
    return data


def path_of(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as the file's path: tables.overrides."public.orders".key, models[0].tables[1]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "Model") or (isinstance(part, str) and part.startswith("function-")):
            continue  # the branch of a union (or a validator's wrapper), not a key of the file
        else:
            text = "from" if part == "from_" else str(part)
            shown = text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) else json.dumps(text)
            out += ("." if out else "") + shown
    return out


def _validation_error(name: str, exc: ValidationError) -> ConfigError:
    errors = exc.errors()

    # for `models: [...]`, an entry that is a mapping is a model: its errors, not the string branch's
    def branch_of_model(error) -> bool:
        return any(str(p) == "Model" or str(p).endswith(", Model]") for p in error["loc"])

    first = next((e for e in errors if branch_of_model(e)), errors[0])
    where = path_of(tuple(first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown key {str(first['loc'][-1])!r}"
        fix = "remove it or fix its spelling (see 'aladia pipeline schema')"
    elif first["type"] == "missing":
        message = "is required"
        fix = "add it (see 'aladia pipeline schema')"
    else:
        fix = "fix the value (see 'aladia pipeline schema')"
    return ConfigError(f"{name}: {where}: {message}" if where else f"{name}: {message}", fix)


def json_schema() -> dict[str, Any]:
    """The pipeline file's JSON Schema (`aladia pipeline schema`)."""
    schema = PipelineFile.model_json_schema(by_alias=True)
    schema["title"] = "aladia pipeline file (aladia.yaml)"
    return schema
