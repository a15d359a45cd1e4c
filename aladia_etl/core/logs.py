"""Logging set-up for every command: plain text (the default) or one JSON object per line on stderr
(`--log-format json` or ALADIA_LOG_FORMAT=json), with the context a record carries (engine, stream, batch id, …)
and no secret: URL credentials, `password=…` pairs and the configured password are masked in every line.

Core code logs through `logging.getLogger("aladia.…")`; this module only formats and routes (it never prints)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aladia_etl.core import secrets

FORMATS = ("text", "json")
MASK = secrets.MASK

# Attributes every LogRecord has: anything else on a record came from `extra=` and is context worth keeping.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


mask = secrets.mask  # the one masking function (core.secrets)


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return mask(value) if isinstance(value, str) else value
    if isinstance(value, dict):
        return secrets.mask_data({str(k): _plain(v) for k, v in value.items()})
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return mask(str(value))


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message, the record's context, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = _plain(value)
        if record.exc_info:
            data["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class MaskingFormatter(logging.Formatter):
    """The text format, with the same masking."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def configure(log_format: str = "text", debug: bool = False, stream=None) -> None:
    """Route logs to stderr. Text without --debug keeps the terminal for the commands' own output (library and
    aladia logs are not shown); json shows aladia's INFO events (DEBUG with --debug) and other libraries' warnings;
    text with --debug shows everything from INFO."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "aladia", False)]:
        root.removeHandler(handler)
    aladia = logging.getLogger("aladia")
    if log_format == "text" and not debug:
        if not root.handlers:
            root.addHandler(logging.NullHandler())
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.aladia = True  # type: ignore[attr-defined]  # marks the handlers configure() added
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [h for h in root.handlers if not isinstance(h, logging.NullHandler)]
    root.addHandler(handler)
    root.setLevel(logging.INFO if debug else logging.WARNING)
    aladia.setLevel(logging.DEBUG if debug else logging.INFO)


class LogLines:
    """A file-like object whose lines become log records: what a command writes to stderr (notes, progress lines,
    its summary) in json mode, so that stderr holds one JSON object per line."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._emit(line)
        return len(text)

    def _emit(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        level = logging.WARNING if line.startswith("!") else logging.INFO
        self.logger.log(level, line.lstrip("•✓!… ").strip())

    def flush(self) -> None:
        if self._buffer:
            self._emit(self._buffer)
            self._buffer = ""

    def isatty(self) -> bool:
        return False
