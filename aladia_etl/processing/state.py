"""A running stream publishes its state — running, retrying (what, when next, which attempt), stopped — to a small
JSON file in the data directory, written atomically. It does not depend on the warehouse, so `aladia status` (and
the health API) can show a stream that is retrying because the warehouse is down. The file names the stream's
process by pid, boot and start time, so a file left behind by a killed stream is recognised as such."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aladia_etl.core.errors import AladiaError
from aladia_etl.core.files import atomic_write
from aladia_etl.core.secrets import mask_data
from aladia_etl.core.settings import Settings
from aladia_etl.processing.model import StreamOptions, StreamProgress

INTERVAL_S = 1.0


def streams_dir(settings: Settings) -> Path:
    return settings.state_dir / "streams"


def _identity(pid: int) -> dict[str, Any]:
    from aladia_etl.stack.process import boot_id, process_start_ticks

    return {"pid": pid, "boot_id": boot_id(), "start_ticks": process_start_ticks(pid)}


class StatePublisher:
    def __init__(self, settings: Settings, options: StreamOptions, progress: StreamProgress) -> None:
        self.path = streams_dir(settings) / f"{options.engine}-{options.stream_name}.json"
        self.options = options
        self.progress = progress
        self.identity = _identity(os.getpid())
        self.started_at = datetime.now(UTC).isoformat()
        self._last: tuple | None = None
        self._written_at = 0.0

    def maybe(self) -> None:
        """Write when the state or the retry status changed, or every INTERVAL_S while running."""
        p = self.progress
        key = (p.state, p.retrying, p.stopped_reason)
        if key != self._last or time.monotonic() - self._written_at >= INTERVAL_S:
            self.now()

    def now(self) -> None:
        p = self.progress
        data = {
            "engine": self.options.engine,
            "stream": self.options.stream_name,
            **self.identity,
            "started_at": self.started_at,
            "updated_at": datetime.now(UTC).isoformat(),
            "state": p.state,
            "retrying": p.retrying,
            "outages": p.outages[-3:],
            "stopped_reason": p.stopped_reason,
            "batches": p.batches,
            "records": p.records,
            "dead_letters": p.dead_letters,
            "lag": p.lag,
        }
        try:
            atomic_write(self.path, json.dumps(mask_data(data)) + "\n")  # the health API serves this file
        except (AladiaError, OSError):  # a full disk must not stop the stream; status then shows the last state written
            # (atomic_write turns every OSError into a UsageError naming the file)
            return
        self._last = (p.state, p.retrying, p.stopped_reason)
        self._written_at = time.monotonic()


def read_streams(settings: Settings) -> list[dict[str, Any]]:
    """Every stream's last published state; `alive` says whether its process is still the one that wrote it
    (a stream killed with -9 leaves "running" behind: it is shown as "gone")."""
    from aladia_etl.stack.process import boot_id, process_start_ticks

    out: list[dict[str, Any]] = []
    directory = streams_dir(settings)
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        pid = data.get("pid")
        alive = (
            isinstance(pid, int)
            and data.get("boot_id") == boot_id()
            and data.get("start_ticks") is not None
            and process_start_ticks(pid) == data.get("start_ticks")
        )
        data = mask_data(data)  # a file an older release wrote, unmasked
        data["alive"] = bool(alive)
        if not alive and data.get("state") in ("starting", "running", "retrying", "stopping"):
            data["state"] = "gone"
        out.append(data)
    return out
