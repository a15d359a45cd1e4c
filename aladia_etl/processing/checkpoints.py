"""Where a Spark stream keeps its checkpoint, and what marks it as aladia's (no Spark needed to know).

A checkpoint holds Kafka offsets of the topics it read, which mean something only for the warehouse they were
applied to: its directory is named for the stream *and* for the brokers, topics and warehouse, so the same stream
name pointed at other topics or another warehouse starts a checkpoint of its own (from the earliest offsets) instead
of resuming offsets that belong elsewhere. The `<checkpoint>.stream-id` file beside it marks it as aladia's.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

from aladia_etl.bus.topics import cdc_pattern
from aladia_etl.core.settings import Settings


def checkpoints_dir(settings: Settings) -> Path:
    return settings.data_dir / "spark" / "checkpoints"


def checkpoint_name(settings: Settings, stream_name: str) -> str:
    pg = settings.postgres
    brokers = ",".join(sorted(b.strip() for b in settings.kafka.bootstrap_servers.split(",") if b.strip()))
    binding = "|".join((brokers, cdc_pattern(settings), f"{pg.host}:{pg.port}/{pg.warehouse_db}"))
    return f"{stream_name}-{hashlib.sha256(binding.encode()).hexdigest()[:10]}"


def checkpoint_path(settings: Settings, stream_name: str) -> Path:
    return checkpoints_dir(settings) / checkpoint_name(settings, stream_name)


def marker(checkpoint: Path) -> Path:
    return checkpoint.with_name(f"{checkpoint.name}.stream-id")


def last_committed_batch(checkpoint: Path) -> int | None:
    """The last micro-batch Spark recorded as done in this checkpoint (its `commits/` log), if any."""
    commits = checkpoint / "commits"
    ids = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
    return max(ids, default=None)


def forget(checkpoint: Path) -> bool:
    """Delete a checkpoint aladia created: a real directory directly under the checkpoints directory whose marker
    file is beside it. Returns whether it did; refuses (False) anything else."""
    if not _is_ours(checkpoint):
        return False
    shutil.rmtree(checkpoint, ignore_errors=True)
    marker(checkpoint).unlink(missing_ok=True)
    return True


def _is_ours(checkpoint: Path) -> bool:
    mark = marker(checkpoint)
    if not mark.is_file() or mark.is_symlink() or checkpoint.is_symlink():
        return False
    return not (checkpoint.exists() and not checkpoint.is_dir())


def carry(checkpoint: Path, to: Path) -> Path:
    """Move a checkpoint aladia created (its marker too) to `to`; returns the path the stream goes on with. A stream
    that captured a table while it ran reads the table's topic in the checkpoint it started with: named for the grown
    set of topics, that checkpoint is the one the next start resumes (not a new one that reads every topic again).
    An older checkpoint of aladia's at `to` is set aside first; anything else there, or a checkpoint aladia did not
    mark, stays as it is (the stream goes on where it was)."""
    if to == checkpoint or not _is_ours(checkpoint):
        return checkpoint
    try:
        set_aside(to)
    except ValueError:
        return checkpoint
    # the marker first: stopped in between, the next start finds a marker without its checkpoint (a fresh start
    # from the earliest offsets) rather than a checkpoint that nothing marks as aladia's
    marker(checkpoint).rename(marker(to))
    if checkpoint.exists():
        checkpoint.rename(to)
    return to


def set_aside(checkpoint: Path) -> Path | None:
    """Move a checkpoint aladia created out of the stream's way, kept under a name that says when
    (`<name>.set-aside-<UTC time>`, its marker beside it); returns where it went. None: there was nothing to move
    (no marked checkpoint). Raises ValueError for a checkpoint aladia did not mark (it is left alone)."""
    mark = marker(checkpoint)
    if not (mark.exists() or mark.is_symlink() or checkpoint.exists() or checkpoint.is_symlink()):
        return None
    if not _is_ours(checkpoint):
        raise ValueError(f"{checkpoint} is not a checkpoint aladia created")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = checkpoint.with_name(f"{checkpoint.name}.set-aside-{stamp}")
    if checkpoint.exists():
        checkpoint.rename(target)
    mark.rename(marker(target))
    return target
