"""The Debezium change-event model: parsing JSON envelopes (converters without embedded schemas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from aladia_etl.bus.topics import table_of
from aladia_etl.core.errors import RecordError

OPS = frozenset(("c", "u", "d", "r"))


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


_SCHEMA_PREFIX = b'{"schema":'
_PAYLOAD_KEY = b',"payload":'


def _payload_only(value: bytes | str) -> dict[str, Any] | None:
    """Fast path for Kafka's JsonConverter with schemas.enable=true, which writes `{"schema":…,"payload":…}`:
    the schema block (field definitions, often 3–4× the size of the data) is skipped and only the payload is
    parsed. Anything unexpected returns None and the caller parses the whole record."""
    raw = value.encode() if isinstance(value, str) else value
    if not raw.startswith(_SCHEMA_PREFIX):
        return None
    cut = raw.find(_PAYLOAD_KEY)
    if cut < 0 or not raw.endswith(b"}"):
        return None
    try:
        payload = orjson.loads(raw[cut + len(_PAYLOAD_KEY) : -1])
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def parse(topic: str, partition: int, offset: int, value: bytes | str | None) -> ChangeEvent | None:
    """Parse one record value. Tombstones (null values, following deletes) give None. Raises RecordError."""
    if value is None:
        return None
    payload = _payload_only(value)
    if payload is None:
        try:
            payload = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise RecordError(f"malformed JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise RecordError(f"envelope is a {type(payload).__name__}, not an object")
        if "payload" in payload and "schema" in payload and isinstance(payload["payload"], dict):
            payload = payload["payload"]  # a converter with schemas.enable=true
    op = payload.get("op")
    if op not in OPS:
        raise RecordError(f"unknown or missing op {op!r}")
    source = payload.get("source")
    if not isinstance(source, dict):
        raise RecordError("missing source block")
    lsn = source.get("lsn")
    ts_ms = source.get("ts_ms")
    if not isinstance(lsn, int) or isinstance(lsn, bool) or lsn < 0:
        raise RecordError(f"missing or invalid source.lsn {lsn!r}")
    if not isinstance(ts_ms, int) or isinstance(ts_ms, bool):
        raise RecordError(f"missing or invalid source.ts_ms {ts_ms!r}")
    before, after = payload.get("before"), payload.get("after")
    for name, image in (("before", before), ("after", after)):
        if image is not None and not isinstance(image, dict):
            raise RecordError(f"{name} is not an object")
    if op == "d" and before is None:
        raise RecordError("delete without a before image")
    if op != "d" and after is None:
        raise RecordError(f"op {op} without an after image")
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
