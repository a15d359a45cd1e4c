"""What the launching process and the pipeline's DoFns share about one running stream. With Prism (or a portable job
server) and the LOOPBACK environment, the DoFns run in the launching process, so this module-level registry is how
the engine asks the source to stop, how the source reports an outage, and how the pane-applying step finds its
reorder buffer and the stream's progress.

The registry is keyed by a stream key (engine and stream name); DoFns carry only the key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from aladia_etl.processing.model import StreamProgress
from aladia_etl.processing.resilience import Outage


@dataclass
class StreamShared:
    progress: StreamProgress
    max_outage_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    highwater: dict[tuple[str, int], int] = field(default_factory=dict)
    source_outage: Outage = field(init=False)
    # the pane-applying step
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    waiting: dict[tuple[str, int], dict[int, dict]] = field(default_factory=dict)  # chunks ahead of a gap
    next_batch_id: int = 0
    applying: int = 0
    apply_outage: Outage = field(init=False)
    abort: threading.Event = field(default_factory=threading.Event)  # stop retrying an apply: the stream gives up

    def __post_init__(self) -> None:
        self.source_outage = Outage(
            "Kafka (reading)", self.max_outage_s, lambda s: self.progress.note_retry(s, "source")
        )
        self.apply_outage = Outage(
            "the warehouse or Kafka (applying)", self.max_outage_s, lambda s: self.progress.note_retry(s, "apply")
        )


_REGISTRY: dict[str, StreamShared] = {}


def register(key: str, state: StreamShared) -> StreamShared:
    _REGISTRY[key] = state
    return state


def get(key: str) -> StreamShared:
    try:
        return _REGISTRY[key]
    except KeyError:
        raise RuntimeError(
            f"stream {key} is not registered in this process: the Beam streaming engine runs its DoFns in the "
            "launching process (environment LOOPBACK)"
        ) from None


def forget(key: str) -> None:
    _REGISTRY.pop(key, None)


def stopping(key: str) -> bool:
    state = _REGISTRY.get(key)
    return state is None or state.stop.is_set() or state.error is not None


def fail(key: str, exc: BaseException) -> None:
    state = _REGISTRY.get(key)
    if state is not None and state.error is None:
        state.error = exc


def source_failed(key: str, exc: BaseException) -> float:
    """The seconds to wait before reading again; a fault that is not a service's, or too long, fails the stream."""
    state = get(key)
    try:
        return state.source_outage.failed(exc)
    except BaseException as fatal:  # noqa: BLE001 - recorded: the engine raises it, the source finishes its range
        fail(key, fatal)
        return 0.0


def source_recovered(key: str, topic: str, partition: int, highwater: int | None) -> None:
    state = _REGISTRY.get(key)
    if state is None:
        return
    if highwater is not None:
        state.highwater[(topic, partition)] = highwater
    state.source_outage.recovered()


def highwater(key: str, topic: str, partition: int) -> int | None:
    state = _REGISTRY.get(key)
    return None if state is None else state.highwater.get((topic, partition))


def snapshot(key: str) -> dict[str, Any]:
    state = get(key)
    return {"waiting": sum(len(w) for w in state.waiting.values()), "applying": state.applying}
