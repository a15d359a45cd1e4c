"""`aladia cdc snapshot`: which tables, the signal Debezium reads, and the progress folded from its notifications."""

from __future__ import annotations

import re

import pytest

from aladia_etl.cdc import snapshots
from aladia_etl.cdc.connector import build_config, notification_topic
from aladia_etl.cli.views.health import snapshot_line
from aladia_etl.core.errors import ExitCode, UsageError
from aladia_etl.core.settings import Settings
from tests.cli import invoke

CAPTURED = ("public.customers", "public.products", "shop.Order Lines")
ID = "38299cdd-c638-4b54-97e2-d52766b7a8d6"


def note(kind: str, stamp: int, aggregate: str = "Incremental Snapshot", ident: str = ID, **data) -> dict:
    """A notification as Debezium 3.6 writes it (seen on the local stack)."""
    return {"id": ident, "type": kind, "aggregate_type": aggregate, "additional_data": data, "timestamp": stamp}


def test_tables_are_named_as_captured_with_or_without_their_schema():
    assert snapshots.resolve(("products", "public.products", "shop.Order Lines"), CAPTURED) == (
        "public.products",
        "shop.Order Lines",
    )
    with pytest.raises(UsageError, match="'orders' is not a captured table") as info:
        snapshots.resolve(("orders",), CAPTURED)
    assert "public.customers" in info.value.fix
    with pytest.raises(UsageError, match="no table named"):
        snapshots.resolve((), CAPTURED)


def test_the_signal_names_each_table_as_a_regular_expression_that_means_only_itself():
    data = snapshots.signal_data(("public.products", "shop.Order Lines"), None)
    assert data["type"] == "incremental" and "additional-conditions" not in data
    patterns = data["data-collections"]
    assert [bool(re.fullmatch(p, "public.products")) for p in patterns] == [True, False]
    assert re.fullmatch(patterns[1], "shop.Order Lines") and not re.fullmatch(patterns[0], "publicXproducts")
    where = snapshots.signal_data(("public.products",), "id > 10")["additional-conditions"]
    # parenthesised: Debezium appends it to its chunk bounds, and `a = 1) OR (b = 2` must not escape them
    assert where == [{"data-collection": patterns[0], "filter": "(id > 10)"}]


def test_the_connector_reads_signals_from_aladias_table_and_reports_on_its_own_topic():
    config = build_config(Settings(_env_file=None, cdc={"snapshot_chunk_size": 50}))
    assert config["signal.data.collection"] == "public.aladia_signal"
    assert config["incremental.snapshot.chunk.size"] == "50"
    assert config["notification.sink.topic.name"] == notification_topic("orders_db") == "orders_db.aladia_notifications"


def test_progress_is_folded_from_debeziums_notifications():
    notes = [
        note("STARTED", 1, "Initial Snapshot", ident="initial", connector_name="orders_db"),  # not a re-snapshot
        note("STARTED", 10, data_collections="public.customers,public.orders"),
        note(
            "IN_PROGRESS",
            11,
            current_collection_in_progress="public.customers",
            maximum_key="200",
            last_processed_key="100",
            data_collections="public.customers,public.orders",
        ),
    ]
    running = snapshots.fold(notes)[ID]
    assert (running.state, running.current, running.last_key, running.maximum_key) == (
        "running",
        "public.customers",
        "100",
        "200",
    )
    assert running.tables == ["public.customers", "public.orders"] and "initial" not in snapshots.fold(notes)
    assert snapshot_line(running.as_dict()) == (
        "snapshot 38299cdd of public.customers, public.orders: running, reading public.customers (key 100 of 200)"
    )
    notes += [
        note(
            "TABLE_SCAN_COMPLETED",
            12,
            scanned_collection="public.customers",
            total_rows_scanned="200",
            status="SUCCEEDED",
            data_collections="public.orders",
        ),
        note("TABLE_SCAN_COMPLETED", 13, scanned_collection="public.orders", total_rows_scanned="0", status="EMPTY"),
        note("COMPLETED", 14),
        "not a notification",
        note("COMPLETED", 15, ident=7),
    ]
    done = snapshots.fold(notes)[ID]
    assert (done.state, done.current, done.started_ms, done.updated_ms) == ("completed", None, 10, 14)
    assert done.rows == {"public.customers": 200, "public.orders": 0} and not done.failed_scans
    assert snapshot_line(done.as_dict()).endswith(
        "completed; read public.customers 200 rows (SUCCEEDED), public.orders 0 rows (EMPTY)"
    )


def test_a_table_debezium_could_not_read_is_a_failed_scan():
    notes = [
        note("STARTED", 1, data_collections="public.t"),
        note("TABLE_SCAN_COMPLETED", 2, scanned_collection="public.t", total_rows_scanned="0", status="NO_PRIMARY_KEY"),
        note("COMPLETED", 3),
    ]
    assert snapshots.fold(notes)[ID].failed_scans == {"public.t": "NO_PRIMARY_KEY"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cdc", "snapshot", "nope"], "'nope' is not a captured table"),
        (["cdc", "snapshot"], "Missing argument"),
        (["cdc", "snapshot", "products", "--timeout", "0"], "--timeout"),
    ],
)
def test_a_wrong_request_is_one_line_before_anything_is_asked(args, message):
    result = invoke(args, env={"ALADIA_CONNECT__URL": "http://127.0.0.1:1", "ALADIA_POSTGRES__PORT": "1"})
    assert result.code == ExitCode.USAGE, result.output
    assert message in result.output and "Traceback" not in result.output


def test_malformed_notification_values_never_break_the_fold():
    notes = [
        note("STARTED", True, data_collections="public.t"),  # a boolean is no timestamp
        note("TABLE_SCAN_COMPLETED", 2, scanned_collection="public.t", total_rows_scanned="²", status="SUCCEEDED"),
        note("TABLE_SCAN_COMPLETED", 3, scanned_collection="public.u", total_rows_scanned="9" * 5000, status="EMPTY"),
        {"id": ID, "aggregate_type": "Incremental Snapshot", "type": "IN_PROGRESS", "additional_data": "not a map"},
    ]
    item = snapshots.fold(notes)[ID]
    assert item.rows == {"public.t": 0, "public.u": 0} and item.started_ms == 2


def test_ids_carry_their_time_so_snapshots_list_in_order():
    older, newer = snapshots.new_id(1_000), snapshots.new_id(2_000)
    assert snapshots.requested_ms(older) == 1_000 and len(newer) <= 64  # the signal table's id is VARCHAR(64)
    assert snapshots.requested_ms("38299cdd-c638-4b54-97e2-d52766b7a8d6") == 0  # not one aladia made
    started = snapshots.fold([note("STARTED", 5_000, ident=older, data_collections="public.t")])
    ordered = snapshots._ordered({**started, newer: snapshots.SnapshotProgress(id=newer)})
    assert [p.id for p in ordered] == [newer, older]  # by when Debezium started it, else when it was asked


def test_a_progress_line_never_reads_source_keys_as_markup(monkeypatch):
    """The reporter renders descriptions as rich markup: a key such as `sku[/]` must be shown as it is."""
    from rich.text import Text

    from aladia_etl.core.progress import Reporter, Task

    notes = [
        note("STARTED", 1, data_collections="public.t"),
        note("IN_PROGRESS", 2, current_collection_in_progress="public.t", last_processed_key="sku[/]",
             maximum_key="[blink]z"),
    ]  # fmt: skip
    reads = iter([notes, [*notes, note("COMPLETED", 3)]])
    shown: list[str] = []

    class Reader:
        def __init__(self, settings, tail=None):
            pass

        def read(self):
            return next(reads)

        def close(self):
            pass

    class Recording(Task):
        def update(self, *, completed=None, total=None, description=None):
            shown.append(description)

    class Recorder(Reporter):
        def task(self, description, total=None):
            return Recording()

    monkeypatch.setattr(snapshots, "Notifications", Reader)
    monkeypatch.setattr(snapshots.time, "sleep", lambda s: None)
    assert snapshots.wait(Settings(_env_file=None), ID, 60, Recorder()).state == "completed"
    assert [Text.from_markup(d).plain for d in shown] == ["public.t: key sku[/] of [blink]z"]


def test_a_second_request_while_one_runs_is_refused(monkeypatch):
    from aladia_etl.core.errors import InProgress

    running = snapshots.SnapshotProgress(id=ID, tables=["public.t"], state="running")
    monkeypatch.setattr(snapshots, "_check_connector", lambda settings: None)
    monkeypatch.setattr(snapshots, "progress", lambda settings, *a, **k: [running])
    with pytest.raises(InProgress, match=f"snapshot {ID} of public.t is still running") as info:
        snapshots.request(Settings(_env_file=None), ("public.t",))
    assert info.value.exit_code == ExitCode.CONFLICT
