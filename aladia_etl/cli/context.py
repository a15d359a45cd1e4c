"""Process-wide CLI state: the --debug flag and the settings, loaded once on first use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aladia_etl.core.settings import Settings
    from aladia_etl.warehouse.sinks import CompiledPipeline


class _State:
    debug: bool = False
    interrupted: bool = False
    log_format: str = "text"
    pipeline_option: Path | None = None  # --pipeline
    argv: list[str] | None = None  # the arguments main() was given
    _settings: Settings | None = None
    _compiled: CompiledPipeline | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from aladia_etl.core.settings import load_settings

            self._settings = load_settings()  # registers its secrets with the masking (core.secrets)
        return self._settings

    def compiled(self) -> CompiledPipeline:
        """The pipeline this command runs (`--pipeline`, ALADIA_PIPELINE, ./aladia.yaml, else the built-in one),
        validated and compiled — against the source catalog when it mirrors tables. The settings then capture its
        tables."""
        if self._compiled is None:
            from aladia_etl.core.pipeline import load, locate
            from aladia_etl.warehouse.compile import builtin, check_models_against, compile_models, compile_pipeline

            path = locate(self.pipeline_option, self.settings().pipeline)
            if path is None:
                self._compiled = builtin()
            else:
                pipeline = load(path)
                compile_models(pipeline)  # what needs no database is checked before connecting
                declared = any(not isinstance(m, str) for m in pipeline.spec.models)
                catalog = source_catalog(self.settings()) if pipeline.spec.tables.include or declared else None
                self._compiled = compile_pipeline(pipeline, catalog)
                if declared and catalog is not None:  # a declared model's tables and columns must exist in the source
                    check_models_against(self._compiled, catalog, builtin_too=False)
            self._settings = self.settings().with_capture(self._compiled.captured)
        return self._compiled

    def reset_settings(self) -> None:
        """Settings read again (the secured stack's client settings were just written)."""
        self._settings = None
        self._compiled = None

    def reset(self) -> None:
        self.debug = False
        self.interrupted = False
        self.log_format = "text"
        self.pipeline_option = None
        self._settings = None
        self._compiled = None


state = _State()


def settings() -> Settings:
    return state.settings()


def compiled() -> CompiledPipeline:
    return state.compiled()


def pipeline_if_possible(reporter=None) -> None:
    """For the commands that watch a running pipeline (`status`, `serve`): its tables when the file can be read and
    its tables resolved; otherwise a note, and the built-in tables (those commands must work with the source down)."""
    from aladia_etl.core.errors import ServiceUnavailable

    try:
        state.compiled()
    except ServiceUnavailable as exc:
        if reporter is not None:
            reporter.warning(f"the pipeline's tables could not be resolved ({exc.reason}); showing the built-in ones")


def source_catalog(settings: Settings) -> dict:
    """The source database's tables (`source.catalog`)."""
    from aladia_etl.source.bootstrap import connect
    from aladia_etl.source.catalog import read_catalog

    with connect(settings) as conn:
        return read_catalog(conn)


def reporter():
    from aladia_etl.cli.render import RichReporter

    return RichReporter()


def number(low: float = 0.0, high: float = 1e9, *, above: bool = False):
    """A typer callback: the option must be a finite number in [low, high] (or (low, high] with `above`); NaN and
    infinities pass typer's own min/max checks, this does not let them through."""

    def check(value):
        import math

        import typer

        if value is None:
            return value
        too_low = value <= low if above else value < low
        if not math.isfinite(value) or too_low or value > high:
            bound = f"greater than {low:g}" if above else f"at least {low:g}"
            raise typer.BadParameter(f"{value} is not a number {bound} and at most {high:g}")
        return value

    return check


def duration(option: str):
    """A typer callback for a duration option: `500ms`, `1s`, `2.5s`, `1.5m` or plain seconds, in whole milliseconds,
    from 1 ms to 1 hour (one parser for every command: `stream` and `bench` read the same values)."""
    import re

    pattern = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m)?", re.ASCII)
    factors = {"ms": 1, "s": 1000, "m": 60_000, None: 1000}

    def parse(text):
        from aladia_etl.core.errors import UsageError

        if text is None:
            return None
        match = pattern.fullmatch(str(text).strip().lower())
        millis = round(float(match.group(1)) * factors[match.group(2)]) if match else 0
        if not 1 <= millis <= 3_600_000:
            raise UsageError(f"{option}: '{text}' is not a duration from 1ms to 1 hour", "use e.g. 500ms, 1s or 2.5s")
        return millis / 1000

    return parse
