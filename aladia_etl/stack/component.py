"""What every process of the local stack shares: its pid and log files, readiness, stop, purge (only of what
aladia marked as its own), failures."""

from __future__ import annotations

import time
from pathlib import Path

from aladia_etl.core.errors import ComponentFailed
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings
from aladia_etl.stack.ownership import check_data_dir, claim_data_dir, remove_tree
from aladia_etl.stack.probes import ComponentHealth
from aladia_etl.stack.process import ManagedProcess


class LocalComponent:
    name = "component"
    label = "component"  # for messages: "Kafka broker", "Kafka Connect", "PostgreSQL"
    readiness = "serve"  # what wait_ready waits for, in messages

    def __init__(self, settings: Settings, reporter: Reporter = SILENT) -> None:
        self.settings = settings
        self.reporter = reporter
        self.process = ManagedProcess(
            self.name, settings.state_dir / f"{self.name}.pid", settings.logs_dir / f"{self.name}.log", reporter
        )

    @property
    def home(self) -> Path:
        """The component's directory: under the data directory, named after the component."""
        return self.settings.data_dir / self.name

    def health(self) -> ComponentHealth:
        raise NotImplementedError

    def wait_ready(self, timeout: float = 120) -> None:
        """Poll the health check until it passes; fail at once if the process died, with its log tail."""
        deadline = time.monotonic() + timeout
        health = None
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise self.failure("exited during start-up")
            health = self.health()
            if health.healthy:
                return
            time.sleep(0.3)
        raise self.failure(f"did not {self.readiness} within {timeout:.0f} s ({health.detail if health else ''})")

    def stop(self, timeout: float = 30) -> bool:
        return self.process.stop(timeout=timeout)

    def claim_data_dir(self) -> None:
        """Mark the data directory as aladia's on first use (quietly: `aladia up` has said so if it cannot)."""
        claim_data_dir(self.settings.data_dir)

    def check_purge(self) -> None:
        """Raise, deleting nothing, unless `purge` may delete this component's directory."""
        check_data_dir(self.settings.data_dir)

    def purge(self) -> None:
        self.check_purge()
        remove_tree(self.home)

    def failure(self, what: str) -> ComponentFailed:
        return ComponentFailed(
            f"{self.label} {what}; log: {self.process.log_file}",
            "read the log lines below, fix the cause, then run 'aladia up' again",
            detail=self.process.tail(15),
        )
