"""A Spark checkpoint is bound to the brokers, topics and warehouse it was made for, and only what aladia marked as
its own is ever deleted."""

from __future__ import annotations

import pytest

from aladia_etl.core.settings import Settings
from aladia_etl.processing.checkpoints import (
    checkpoint_name,
    checkpoint_path,
    forget,
    last_committed_batch,
    marker,
    set_aside,
)


def _with(settings: Settings, section: str, **changes) -> Settings:
    return settings.model_copy(update={section: getattr(settings, section).model_copy(update=changes)})


def test_checkpoint_name_is_stable_and_starts_with_the_stream_name(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert checkpoint_name(settings, "default") == checkpoint_name(Settings(data_dir=tmp_path), "default")
    assert checkpoint_name(settings, "nightly").startswith("nightly-")
    assert checkpoint_name(settings, "nightly") != checkpoint_name(settings, "default")
    assert checkpoint_path(settings, "x").parent == tmp_path / "spark" / "checkpoints"


@pytest.mark.parametrize(
    ("section", "changes"),
    [
        ("cdc", {"topic_prefix": "other"}),
        ("kafka", {"bootstrap_servers": "127.0.0.1:19092"}),
        ("postgres", {"warehouse_db": "another_warehouse"}),
        ("postgres", {"port": 6543}),
        ("postgres", {"host": "warehouse.internal"}),
    ],
)
def test_other_topics_or_another_warehouse_get_another_checkpoint(tmp_path, section, changes):
    settings = Settings(data_dir=tmp_path)
    assert checkpoint_name(_with(settings, section, **changes), "s") != checkpoint_name(settings, "s")


def test_what_does_not_bind_the_checkpoint_does_not_change_it(tmp_path):
    settings = _with(Settings(data_dir=tmp_path), "kafka", bootstrap_servers="b:9092,a:9092")
    same = [
        _with(settings, "cdc", connector_name="renamed"),
        _with(settings, "kafka", bootstrap_servers=" a:9092 , b:9092"),  # the same brokers, listed otherwise
    ]
    assert {checkpoint_name(s, "s") for s in same} == {checkpoint_name(settings, "s")}


def _checkpoint(tmp_path, name="s-0123456789", commits=()):
    path = tmp_path / name
    (path / "commits").mkdir(parents=True)
    for c in commits:
        (path / "commits" / c).write_text("v1")
    marker(path).write_text("abc")
    return path


def test_last_committed_batch_reads_the_commit_log(tmp_path):
    assert last_committed_batch(tmp_path / "absent") is None
    assert last_committed_batch(_checkpoint(tmp_path, "a-1")) is None
    assert last_committed_batch(_checkpoint(tmp_path, "b-1", ("0", "1", "12", ".12.crc", "tmp"))) == 12


def test_forget_deletes_a_marked_checkpoint(tmp_path):
    path = _checkpoint(tmp_path, commits=("0",))
    assert forget(path) is True
    assert not path.exists() and not marker(path).exists()


def test_forget_refuses_what_aladia_did_not_mark(tmp_path):
    unmarked = tmp_path / "unmarked"
    (unmarked / "commits").mkdir(parents=True)
    assert forget(unmarked) is False and unmarked.is_dir()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep")
    link = tmp_path / "linked"
    link.symlink_to(elsewhere)
    marker(link).write_text("abc")
    assert forget(link) is False and (elsewhere / "precious").exists()

    odd = tmp_path / "odd"
    odd.mkdir()
    marker(odd).mkdir()  # a directory where the marker file should be
    assert forget(odd) is False and odd.is_dir()


def test_the_bench_forgets_only_its_own_streams_checkpoints(tmp_path):
    from aladia_etl.flows.bench.setup import BENCH_STREAMS, forget_checkpoints

    settings = Settings(data_dir=tmp_path)
    target = _with(settings, "postgres", warehouse_db="bench_wh")
    root = checkpoint_path(settings, "x").parent
    theirs = [_checkpoint(root, checkpoint_name(target, s), ("0",)) for s in BENCH_STREAMS]
    users = [
        _checkpoint(root, checkpoint_name(settings, "bench-mine"), ("0",)),  # a user's stream named bench-…
        _checkpoint(root, checkpoint_name(settings, "bench-drain"), ("0",)),  # the same name on the user's warehouse
    ]
    forget_checkpoints([target])
    assert not any(p.exists() for p in theirs)
    assert all(p.is_dir() and marker(p).is_file() for p in users)


def test_set_aside_keeps_the_checkpoint_under_a_name_that_says_so(tmp_path):
    path = _checkpoint(tmp_path, commits=("0", "1"))
    moved = set_aside(path)
    assert moved is not None and moved.name.startswith(f"{path.name}.set-aside-")
    assert not path.exists() and not marker(path).exists()
    assert last_committed_batch(moved) == 1 and marker(moved).read_text() == "abc"
    assert set_aside(path) is None  # nothing left to move


def test_set_aside_refuses_what_aladia_did_not_mark(tmp_path):
    unmarked = tmp_path / "unmarked"
    (unmarked / "commits").mkdir(parents=True)
    with pytest.raises(ValueError, match="is not a checkpoint aladia created"):
        set_aside(unmarked)
    assert unmarked.is_dir()


def test_a_checkpoint_that_read_a_captured_table_goes_on_under_the_grown_set_of_topics_name(tmp_path):
    """A stream that captured a table while it ran: the next start (named for the grown set of topics) resumes the
    checkpoint instead of reading every topic again; nothing there already, or not aladia's, is left alone."""
    from aladia_etl.processing.checkpoints import carry

    started = _checkpoint(tmp_path, "s-aaaaaaaaaa", commits=("0", "1"))
    grown = tmp_path / "s-bbbbbbbbbb"
    assert carry(started, grown) == grown
    assert last_committed_batch(grown) == 1 and marker(grown).read_text() == "abc"
    assert not started.exists() and not marker(started).exists()
    assert carry(grown, grown) == grown  # already there

    # an older checkpoint of the grown set (an earlier run's) is set aside, kept, not overwritten
    newer = _checkpoint(tmp_path, "s-cccccccccc", commits=("0", "1", "2"))
    assert carry(newer, grown) == grown and last_committed_batch(grown) == 2
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("s-bbbbbbbbbb.set-aside-") and p.is_dir()]
    assert len(kept) == 1 and last_committed_batch(kept[0]) == 1
    # what aladia did not mark is never moved, nor moved over
    unmarked = tmp_path / "s-dddddddddd"
    (unmarked / "commits").mkdir(parents=True)
    assert carry(unmarked, tmp_path / "s-eeeeeeeeee") == unmarked and unmarked.exists()
    foreign = tmp_path / "s-ffffffffff"
    foreign.mkdir()
    mine = _checkpoint(tmp_path, "s-9999999999", commits=("0",))
    assert carry(mine, foreign) == mine and mine.exists() and foreign.exists()
