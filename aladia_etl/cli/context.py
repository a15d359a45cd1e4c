"""Process-wide CLI state: the --debug flag and the settings, loaded once on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aladia_etl.core.settings import Settings


class _State:
    debug: bool = False
    interrupted: bool = False
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from aladia_etl.core.settings import load_settings

            self._settings = load_settings()
        return self._settings

    def reset(self) -> None:
        self.debug = False
        self.interrupted = False
        self._settings = None


state = _State()


def settings() -> Settings:
    return state.settings()


def reporter():
    from aladia_etl.cli.render import RichReporter

    return RichReporter()
