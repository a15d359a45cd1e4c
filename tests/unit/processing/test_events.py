"""The Debezium envelope parser: every op, tombstones and malformed input."""

from __future__ import annotations

import json

import pytest

from aladia_etl.bus.topics import table_of
from aladia_etl.core.errors import RecordError
from aladia_etl.processing.events import parse
from tests import factories

TOPIC = "orders_db.public.orders"
ORDER = {
    "id": 7,
    "customer_id": 3,
    "status": "paid",
    "total_amount": "12.50",
    "created_at": "2026-11-25T10:00:00.123456Z",
    "updated_at": "2026-11-25T10:05:00Z",
}


def envelope(op="c", before=None, after=ORDER, lsn=1000, ts_ms=1764064800000, **source) -> bytes:
    """Unlike the factory's, both images are given explicitly: these tests break envelopes on purpose."""
    data = factories.envelope("orders", ORDER, op=op, lsn=lsn, ts_ms=ts_ms, **source)
    data.update(before=before, after=after)
    return json.dumps(data).encode()


@pytest.mark.parametrize("op", ["c", "r"])
def test_create_and_snapshot_read(op):
    event = parse(TOPIC, 0, 5, envelope(op=op))
    assert (event.op, event.table, event.lsn, event.tx_id) == (op, "orders", 1000, 77)
    assert event.row == ORDER and event.before is None
    assert (event.topic, event.partition, event.offset) == (TOPIC, 0, 5)
    assert not event.is_delete


def test_update_carries_both_images():
    event = parse(TOPIC, 0, 6, envelope(op="u", before={**ORDER, "status": "pending"}))
    assert event.before["status"] == "pending" and event.row["status"] == "paid"


def test_delete_uses_the_before_image():
    event = parse(TOPIC, 0, 7, envelope(op="d", before=ORDER, after=None))
    assert event.is_delete and event.row == ORDER


def test_tombstone_is_none():
    assert parse(TOPIC, 0, 8, None) is None


def test_schema_wrapped_envelope_is_unwrapped():
    wrapped = json.dumps({"schema": {"type": "struct"}, "payload": json.loads(envelope())}).encode()
    assert parse(TOPIC, 0, 1, wrapped).row == ORDER


def test_bytes_and_str_values_are_accepted():
    assert parse(TOPIC, 0, 1, envelope().decode()).lsn == 1000


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"[1, 2]", "envelope is a list"),
        (b'"text"', "envelope is a str"),
        (json.dumps({"op": "c"}).encode(), "missing source"),
        (envelope(op="x"), "unknown or missing op"),
        (envelope(op=None), "unknown or missing op"),
        (envelope(lsn=None), "source.lsn"),
        (envelope(lsn="123"), "source.lsn"),
        (envelope(lsn=-1), "source.lsn"),
        (envelope(lsn=True), "source.lsn"),
        (envelope(ts_ms="yesterday"), "source.ts_ms"),
        (envelope(op="c", after=None), "without an after image"),
        (envelope(op="u", after=None), "without an after image"),
        (envelope(op="d", before=None, after=None), "delete without a before image"),
        (envelope(after=[1, 2]), "after is not an object"),
        (envelope(op="d", before="x", after=None), "before is not an object"),
    ],
)
def test_malformed_envelopes_are_rejected_with_a_reason(value, reason):
    with pytest.raises(RecordError) as info:
        parse(TOPIC, 0, 1, value)
    assert reason in info.value.reason


def test_table_falls_back_to_the_topic_name():
    raw = json.loads(envelope())
    del raw["source"]["table"]
    assert parse(TOPIC, 0, 1, json.dumps(raw).encode()).table == "orders"
    assert table_of("orders_db.public.order_items") == "order_items"


def test_schema_block_is_skipped_and_a_misleading_schema_falls_back_to_a_full_parse():
    from aladia_etl.processing.events import _payload_only

    payload = json.loads(envelope())
    fast = json.dumps({"schema": {"type": "struct"}, "payload": payload}, separators=(",", ":")).encode()
    assert _payload_only(fast) == payload
    # Quotes inside JSON strings are escaped, so a string value can never fake the key ...
    quoted = {"type": "struct", "fields": [{"field": "note", "default": 'x,"payload":{"op":"d"}'}]}
    quoted_raw = json.dumps({"schema": quoted, "payload": payload}, separators=(",", ":")).encode()
    assert _payload_only(quoted_raw) == payload
    # ... but a map inside the schema could hold a key named payload: the slice does not parse, full parse.
    keyed = {"type": "struct", "parameters": {"a": "1", "payload": "x"}}
    keyed_raw = json.dumps({"schema": keyed, "payload": payload}, separators=(",", ":")).encode()
    assert _payload_only(keyed_raw) is None
    assert parse(TOPIC, 0, 1, keyed_raw).row == ORDER
    assert _payload_only(envelope()) is None  # no schema block: the normal path


def test_odd_but_harmless_source_fields():
    raw = json.loads(envelope())
    raw["source"].update(table="", txId=True)
    event = parse(TOPIC, 0, 1, json.dumps(raw).encode())
    assert event.table == "orders" and event.tx_id is None  # an empty table name falls back to the topic's


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('{"op": "c", "name": "\ud800"}', "malformed JSON"),  # a str value with a lone surrogate
        (envelope(lsn=2**63), "source.lsn"),
        (envelope(lsn=2**63 - 1, ts_ms=10**17), "source.ts_ms"),
    ],
)
def test_values_past_what_the_warehouse_stores_are_rejected(value, reason):
    with pytest.raises(RecordError, match=reason):
        parse(TOPIC, 0, 1, value)


def test_the_largest_storable_lsn_and_ts_ms_parse():
    from aladia_etl.warehouse.rows import EPOCH_MS_RANGE

    low, high = EPOCH_MS_RANGE
    assert parse(TOPIC, 0, 1, envelope(lsn=2**63 - 1, ts_ms=high)).lsn == 2**63 - 1
    assert parse(TOPIC, 0, 1, envelope(ts_ms=low)).ts_ms == low
    with pytest.raises(RecordError, match=r"source\.ts_ms"):
        parse(TOPIC, 0, 1, envelope(ts_ms=low - 1))


@pytest.mark.parametrize(
    ("sequence", "commit_lsn"),
    [
        (None, 1000),  # absent: the change's own LSN
        ('[null,"1000"]', 1000),  # a snapshot row
        ('["5000","1000"]', 5000),  # a streamed change: the commit position first
        (["6000", "1000"], 6000),
    ],
)
def test_commit_position_comes_from_source_sequence(sequence, commit_lsn):
    raw = json.loads(envelope())
    if sequence is not None:
        raw["source"]["sequence"] = sequence
    assert parse(TOPIC, 0, 1, json.dumps(raw).encode()).commit_lsn == commit_lsn


@pytest.mark.parametrize("sequence", ['["x","1"]', "[1]", "not json", '["-5","1"]', '["99999999999999999999","1"]', 7])
def test_a_malformed_source_sequence_is_a_dead_letter(sequence):
    raw = json.loads(envelope())
    raw["source"]["sequence"] = sequence
    with pytest.raises(RecordError) as info:
        parse(TOPIC, 0, 1, json.dumps(raw).encode())
    assert "source.sequence" in info.value.reason


def _incremental(sequence) -> bytes:
    """A row of an incremental snapshot as Debezium 3.6 writes it: no LSN, no transaction, the closing watermark's
    position in `source.sequence`."""
    raw = json.loads(envelope(op="r"))
    raw["source"].update(lsn=None, txId=None, snapshot="incremental")
    if sequence is not None:
        raw["source"]["sequence"] = sequence
    return json.dumps(raw).encode()


def test_an_incremental_snapshot_row_takes_its_closing_watermarks_position():
    event = parse(TOPIC, 0, 1, _incremental('["31814144","31814144"]'))
    assert (event.op, event.lsn, event.commit_lsn, event.tx_id) == ("r", 31814144, 31814144, None)
    # above a change committed before the window opened, below one committed after it closed
    before = parse(TOPIC, 0, 0, envelope(op="u", before=ORDER, lsn=31813584, sequence='["31813160","31813584"]'))
    after = parse(TOPIC, 0, 2, envelope(op="u", before=ORDER, lsn=31814300, sequence='["31814200","31814300"]'))
    positions = [(e.commit_lsn, e.lsn) for e in (before, event, after)]
    assert positions == sorted(positions)


def test_an_incremental_snapshot_row_after_another_commit_keeps_its_order():
    """Debezium 3.6 writes [last commit LSN, closing watermark LSN]: equal when the watermark was the last commit."""
    event = parse(TOPIC, 0, 1, _incremental('["31813160","31814144"]'))
    assert (event.commit_lsn, event.lsn) == (31813160, 31814144)
    last = parse(TOPIC, 0, 0, envelope(op="u", before=ORDER, lsn=31813584, sequence='["31813160","31813584"]'))
    after = parse(TOPIC, 0, 2, envelope(op="u", before=ORDER, lsn=31814300, sequence='["31814200","31814300"]'))
    positions = [(e.commit_lsn, e.lsn) for e in (last, event, after)]
    assert positions == sorted(positions)


@pytest.mark.parametrize("sequence", [None, '[null,"5"]', "[]", '["a","b"]'])
def test_an_incremental_snapshot_row_without_a_watermark_is_a_dead_letter(sequence):
    with pytest.raises(RecordError, match=r"source\.lsn"):
        parse(TOPIC, 0, 1, _incremental(sequence))


def test_a_streamed_change_without_an_lsn_is_a_dead_letter_even_with_a_sequence():
    raw = json.loads(envelope(sequence='["5","5"]'))
    raw["source"]["lsn"] = None
    with pytest.raises(RecordError, match=r"source\.lsn"):
        parse(TOPIC, 0, 1, json.dumps(raw).encode())
