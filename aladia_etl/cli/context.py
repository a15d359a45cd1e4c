"""Process-wide CLI state: the --debug flag and the settings, loaded once on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aladia_etl.core.settings import Settings


class _State:
    debug: bool = False
    interrupted: bool = False
    log_format: str = "text"
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from aladia_etl.core.settings import load_settings

            self._settings = load_settings()  # registers its secrets with the masking (core.secrets)
        return self._settings

    def reset(self) -> None:
        self.debug = False
        self.interrupted = False
        self.log_format = "text"
        self._settings = None


state = _State()


def settings() -> Settings:
    return state.settings()


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
