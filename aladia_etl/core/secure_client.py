"""The secured local stack's client settings (`<data_dir>/secure/client.json`, written by `aladia up --secure`) as
a settings source: what every command uses to reach that stack unless a setting is given explicitly."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from aladia_etl.core.errors import ConfigError

SECURE_CLIENT_SETTINGS = "secure/client.json"

__all__ = ["SECURE_CLIENT_SETTINGS", "SecureStackSource", "default_data_dir"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aladia"


class SecureStackSource(PydanticBaseSettingsSource):
    """The secured local stack's client settings (`<data_dir>/secure/client.json`): below every setting given
    explicitly (arguments, environment, .env), above the defaults. A secret given explicitly also drops the file
    that would have supplied it (`password` set: `password_file` not taken from here)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data_dir = self.current_state.get("data_dir") or default_data_dir()
        path = Path(str(data_dir)).expanduser() / SECURE_CLIENT_SETTINGS
        if not path.is_file():
            return {}
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid not in (os.getuid(), 0) or info.st_mode & 0o022:
            raise ConfigError(
                f"the secured stack's client settings {path} are not aladia's own (a link, another user's file, or "
                "writable by others): not used",
                "remove the file and run 'aladia up --secure' again, or use another ALADIA_DATA_DIR",
            )
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"the secured stack's client settings {path} cannot be read ({type(exc).__name__})",
                "run 'aladia up --secure' again with this ALADIA_DATA_DIR, or remove the file to use explicit settings",
            ) from None
        if not isinstance(values, dict):
            return {}
        # a group whose service is given explicitly as another one (other brokers, host, port or URL) is not the
        # secured stack's: none of the stack's credentials or certificates apply to it
        kept = {
            group: fields
            for group, fields in values.items()
            if not (isinstance(fields, dict) and _elsewhere(self.current_state.get(group), fields))
        }
        return _below(self.current_state, kept)


def _below(explicit: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        given = explicit.get(key) if isinstance(explicit, dict) else None
        if isinstance(value, dict):
            out[key] = _below(given if isinstance(given, dict) else {}, value)
        elif key.endswith("_file") and isinstance(explicit, dict) and explicit.get(key.removesuffix("_file")):
            continue
        else:
            out[key] = value
    return out


_TARGETS = ("bootstrap_servers", "host", "port", "url")


def _elsewhere(explicit: Any, fields: dict[str, Any]) -> bool:
    if not isinstance(explicit, dict):
        return False
    return any(
        key in fields and key in explicit and str(explicit[key]).rstrip("/") != str(fields[key]).rstrip("/")
        for key in _TARGETS
    )
