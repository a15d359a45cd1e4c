"""The Debezium change-event model: parsing JSON envelopes (converters without embedded schemas)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

OPS = frozenset(("c", "u", "d", "r"))


class EventError(ValueError):
    """A record that cannot become a warehouse row; `reason` goes to the dead-letter queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class ChangeEvent:
    table: str
    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    lsn: int
    ts_ms: int
    tx_id: int | None
    topic: str
    partition: int
    offset: int

    @property
    def is_delete(self) -> bool:
        return self.op == "d"

    @property
    def row(self) -> dict[str, Any]:
        """The image that describes the row's state after this event (the before-image for a delete)."""
        image = self.before if self.op == "d" else self.after
        assert image is not None
        return image


def table_of(topic: str) -> str:
    """orders_db.public.orders → orders."""
    return topic.rsplit(".", 1)[-1]


def parse(topic: str, partition: int, offset: int, value: bytes | str | None) -> ChangeEvent | None:
    """Parse one record value. Tombstones (null values, following deletes) give None. Raises EventError."""
    if value is None:
        return None
    try:
        payload = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise EventError(f"envelope is a {type(payload).__name__}, not an object")
    if "payload" in payload and "schema" in payload and isinstance(payload["payload"], dict):
        payload = payload["payload"]  # a converter with schemas.enable=true
    op = payload.get("op")
    if op not in OPS:
        raise EventError(f"unknown or missing op {op!r}")
    source = payload.get("source")
    if not isinstance(source, dict):
        raise EventError("missing source block")
    lsn = source.get("lsn")
    ts_ms = source.get("ts_ms")
    if not isinstance(lsn, int) or isinstance(lsn, bool) or lsn < 0:
        raise EventError(f"missing or invalid source.lsn {lsn!r}")
    if not isinstance(ts_ms, int) or isinstance(ts_ms, bool):
        raise EventError(f"missing or invalid source.ts_ms {ts_ms!r}")
    before, after = payload.get("before"), payload.get("after")
    for name, image in (("before", before), ("after", after)):
        if image is not None and not isinstance(image, dict):
            raise EventError(f"{name} is not an object")
    if op == "d" and before is None:
        raise EventError("delete without a before image")
    if op != "d" and after is None:
        raise EventError(f"op {op} without an after image")
    tx_id = source.get("txId")
    return ChangeEvent(
        table=source.get("table") or table_of(topic),
        op=op,
        before=before,
        after=after,
        lsn=lsn,
        ts_ms=ts_ms,
        tx_id=tx_id if isinstance(tx_id, int) else None,
        topic=topic,
        partition=partition,
        offset=offset,
    )
