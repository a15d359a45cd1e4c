"""The Debezium change-event model: parsing JSON envelopes (converters without embedded schemas)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from aladia_etl.bus.topics import table_of
from aladia_etl.core.errors import RecordError, quote
from aladia_etl.warehouse.rows import EPOCH_MS_RANGE
from aladia_etl.warehouse.schema import INT_RANGE

OPS = frozenset(("c", "u", "d", "r"))
_SEQUENCE = re.compile(r'\[(?:"([0-9]{1,18})"|null),"[0-9]{1,19}"\]')
_LSN_MAX = INT_RANGE["BIGINT"][1]  # source_lsn BIGINT
_TS_MS_MIN, _TS_MS_MAX = EPOCH_MS_RANGE  # source_ts TIMESTAMPTZ


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
    # Debezium's commit position (`source.sequence[0]`); the change's own LSN when absent, as in snapshot rows
    commit_lsn: int = 0
    schema: str = "public"  # the source table's schema (`source.schema`)

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
    parsed. Anything unexpected (a str value too) returns None and the caller parses the whole record."""
    if not isinstance(value, bytes) or not value.startswith(_SCHEMA_PREFIX):
        return None
    cut = value.find(_PAYLOAD_KEY)
    if cut < 0 or not value.endswith(b"}"):
        return None
    try:
        payload = orjson.loads(value[cut + len(_PAYLOAD_KEY) : -1])
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
    if not isinstance(op, str) or op not in OPS:
        raise RecordError(f"unknown or missing op {quote(op)}")
    source = payload.get("source")
    if not isinstance(source, dict):
        raise RecordError("missing source block" if source is None else f"source is {quote(source)}, not an object")
    lsn = source.get("lsn")
    if lsn is None and source.get("snapshot") == "incremental":
        lsn = _watermark_lsn(source.get("sequence"))
    ts_ms = source.get("ts_ms")
    if not isinstance(lsn, int) or isinstance(lsn, bool) or not 0 <= lsn <= _LSN_MAX:
        raise RecordError(f"missing or invalid source.lsn {quote(lsn)} (an integer 0..2**63-1)")
    if not isinstance(ts_ms, int) or isinstance(ts_ms, bool) or not _TS_MS_MIN <= ts_ms <= _TS_MS_MAX:
        raise RecordError(f"missing or invalid source.ts_ms {quote(ts_ms)} (epoch milliseconds of the years 1-9999)")
    table = source.get("table")
    if table is None or table == "":
        table = table_of(topic)
    elif not isinstance(table, str):
        raise RecordError(f"source.table is {quote(table)}, not a table name")
    schema = source.get("schema")
    if schema is None or schema == "":
        schema = "public"
    elif not isinstance(schema, str):
        raise RecordError(f"source.schema is {quote(schema)}, not a schema name")
    before, after = payload.get("before"), payload.get("after")
    for name, image in (("before", before), ("after", after)):
        if image is not None and not isinstance(image, dict):
            raise RecordError(f"{name} is not an object ({quote(image)})")
    if op == "d" and before is None:
        raise RecordError("delete without a before image")
    if op != "d" and after is None:
        raise RecordError(f"op {op} without an after image")
    tx_id = source.get("txId")
    commit_lsn = _commit_lsn(source.get("sequence"), lsn)
    return ChangeEvent(
        table=table,
        op=op,
        before=before,
        after=after,
        lsn=lsn,
        ts_ms=ts_ms,
        tx_id=tx_id if isinstance(tx_id, int) and not isinstance(tx_id, bool) else None,
        topic=topic,
        partition=partition,
        offset=offset,
        commit_lsn=commit_lsn,
        schema=schema,
    )


def _watermark_lsn(sequence: Any) -> int | None:
    """A row of an incremental snapshot (`aladia cdc snapshot`) has no LSN of its own: Debezium emits it when its
    chunk's window closes and gives it the closing watermark's position in `source.sequence` ([close, close]).
    That position is above every change emitted before the row and below every change emitted after it (a change
    of the same row inside the window drops the snapshot row), so the row takes it: a snapshot row never goes back
    in time, and never overwrites a newer change."""
    if isinstance(sequence, str):
        fast = _SEQUENCE.fullmatch(sequence)
        if fast and fast.group(1) is not None:
            return int(sequence.rsplit('"', 2)[-2])
    return None  # then reported as a missing source.lsn


def _commit_lsn(sequence: Any, lsn: int) -> int:
    """`source.sequence` is a JSON text `["<last commit LSN>", "<change LSN>"]` (null first for snapshot rows).
    Ordering by (commit LSN, change LSN) puts a change committed after the snapshot above the snapshot row, even
    when the change was written before the snapshot's LSN."""
    if sequence is None:
        return lsn
    if isinstance(sequence, str):
        fast = _SEQUENCE.fullmatch(sequence)  # what Debezium writes: no JSON parse on the hot path
        if fast:
            return int(fast.group(1)) if fast.group(1) is not None else lsn
        try:
            sequence = orjson.loads(sequence)
        except orjson.JSONDecodeError:
            raise RecordError(f"source.sequence {quote(sequence)} is not a JSON array") from None
    if not isinstance(sequence, list) or len(sequence) != 2:
        raise RecordError(f"source.sequence {quote(sequence)} is not [commit LSN, change LSN]")
    first = sequence[0]
    if first is None:
        return lsn
    if isinstance(first, str) and first.isascii() and first.isdigit():
        first = int(first)
    if not isinstance(first, int) or isinstance(first, bool) or not 0 <= first <= _LSN_MAX:
        raise RecordError(f"source.sequence commit LSN {quote(first)} is not an integer 0..2**63-1")
    return first
