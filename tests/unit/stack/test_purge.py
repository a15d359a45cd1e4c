"""`down --purge` deletes only inside directories aladia marked as its own, follows no symbolic link, and refuses
anything else with one line — deleting nothing."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest

from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings
from aladia_etl.stack import postgres
from aladia_etl.stack.kafka import LocalKafka
from aladia_etl.stack.local import LocalStack
from aladia_etl.stack.ownership import (
    DATA_DIR_MARKER,
    OWNED_MARKER,
    check_data_dir,
    claim_data_dir,
    is_marked_data_dir,
    mark_owned,
)
from aladia_etl.stack.process import ProcessRecord

STACK_DIRS = ["state", "logs", "kafka", "connect", "postgres", "spark", "beam"]


def fill(data_dir: Path, names=STACK_DIRS) -> list[Path]:
    files = []
    for name in names:
        (data_dir / name).mkdir(parents=True, exist_ok=True)
        files.append(data_dir / name / "file")
        files[-1].write_text(name)
    return files


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def refused(settings: Settings) -> str:
    with pytest.raises(AladiaError) as info:
        LocalStack(settings).down(purge=True, timeout=1)
    message = str(info.value)
    assert "\n" not in message and "nothing was deleted" in message and info.value.fix
    return message


# -- the data directory ----------------------------------------------------------------------------------------
def test_purge_deletes_the_stack_directories_of_a_marked_data_dir(settings, notes):
    data_dir = settings.data_dir
    assert claim_data_dir(data_dir) and (data_dir / DATA_DIR_MARKER).is_file()
    fill(data_dir, [*STACK_DIRS, "cache"])
    LocalStack(settings, notes).down(purge=True, timeout=1)
    assert sorted(p.name for p in data_dir.iterdir()) == [DATA_DIR_MARKER, "cache"]  # the artifact cache is kept
    assert is_marked_data_dir(data_dir)


def test_purge_refuses_a_data_dir_aladia_did_not_mark(settings):
    data_dir = settings.data_dir
    fill(data_dir)
    (data_dir / "notes.txt").write_text("mine")
    before = snapshot(data_dir)
    message = refused(settings)
    assert f"{DATA_DIR_MARKER} marker" in message
    assert snapshot(data_dir) == before


def test_purge_refuses_the_current_directory_without_a_marker(settings, monkeypatch):
    fill(settings.data_dir)
    monkeypatch.chdir(settings.data_dir)
    before = snapshot(settings.data_dir)
    assert "(the current directory)" in refused(settings)
    assert snapshot(settings.data_dir) == before


def test_purge_refuses_the_home_directory_even_with_a_marker(settings, monkeypatch):
    data_dir = settings.data_dir
    claim_data_dir(data_dir)
    fill(data_dir)
    monkeypatch.setenv("HOME", str(data_dir))
    before = snapshot(data_dir)
    assert "your home directory" in refused(settings)
    assert snapshot(data_dir) == before


def test_the_root_directory_is_never_purged():
    with pytest.raises(AladiaError, match="the root directory"):
        check_data_dir(Path("/"))


def test_a_forged_or_linked_marker_does_not_count(settings, tmp_path):
    data_dir = settings.data_dir
    fill(data_dir)
    (data_dir / DATA_DIR_MARKER).write_text(json.dumps({"created_by": "someone", "kind": "data-dir"}))
    refused(settings)
    (data_dir / DATA_DIR_MARKER).write_text("[" * 4000)
    refused(settings)
    real = tmp_path / "real-marker"
    real.write_text(json.dumps({"created_by": "aladia", "kind": "data-dir"}))
    (data_dir / DATA_DIR_MARKER).unlink()
    (data_dir / DATA_DIR_MARKER).symlink_to(real)
    refused(settings)
    assert all((data_dir / name / "file").exists() for name in STACK_DIRS)


def test_a_refused_purge_stops_nothing(settings, guard, sleeper):
    """Even a process verified as the stack's (here: a record that matches the sleeper) is left running."""
    fill(settings.data_dir)
    kafka = LocalKafka(settings).process
    kafka.record_file.write_text(ProcessRecord.of_running(sleeper.pid, sleeper.args).to_json())
    kafka.pid_file.write_text(f"{sleeper.pid}\n")
    assert kafka.pid() == sleeper.pid
    refused(settings)
    assert guard.calls == [] and sleeper.poll() is None
    assert kafka.pid() == sleeper.pid


def test_a_missing_data_dir_is_nothing_to_purge(settings):
    LocalStack(settings).down(purge=True, timeout=1)
    assert not settings.data_dir.exists()


def test_purge_follows_no_symbolic_link(settings, tmp_path):
    data_dir = settings.data_dir
    claim_data_dir(data_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not aladia's")
    fill(data_dir)
    (data_dir / "state" / "link").symlink_to(outside)
    (data_dir / "logs" / "file-link").symlink_to(outside / "keep.txt")
    (data_dir / "kafka" / "file").unlink()
    (data_dir / "kafka").rmdir()
    (data_dir / "kafka").symlink_to(outside)
    LocalStack(settings).down(purge=True, timeout=1)
    assert (outside / "keep.txt").read_text() == "not aladia's"
    assert not (data_dir / "kafka").is_symlink() and not (data_dir / "state").exists()


def test_a_component_purge_on_its_own_checks_the_marker_too(settings):
    fill(settings.data_dir, ["kafka"])
    with pytest.raises(AladiaError):
        LocalKafka(settings).purge()
    assert (settings.data_dir / "kafka" / "file").exists()


# -- marking ---------------------------------------------------------------------------------------------------
def test_claim_marks_a_new_or_empty_data_dir(tmp_path):
    new, empty = tmp_path / "new", tmp_path / "empty"
    empty.mkdir()
    for data_dir in (new, empty):
        assert claim_data_dir(data_dir) and is_marked_data_dir(data_dir)
    marker = json.loads((new / DATA_DIR_MARKER).read_text())
    assert marker["created_by"] == "aladia" and marker["kind"] == "data-dir" and marker["id"]


def test_entries_with_aladias_names_do_not_make_a_directory_aladias(tmp_path, notes):
    """Seen: /opt holding kafka/ and spark/ was marked, and `down --purge` then deleted a user's files there."""
    data_dir = tmp_path / "opt"
    fill(data_dir, ["kafka", "spark"])
    (data_dir / "kafka" / "keep.txt").write_text("the user's")
    (data_dir / "spark" / "keep.txt").write_text("the user's")
    assert not claim_data_dir(data_dir, notes)
    assert not is_marked_data_dir(data_dir) and "--purge" in notes.warnings[0]
    with pytest.raises(AladiaError):
        check_data_dir(data_dir)
    assert (data_dir / "kafka" / "keep.txt").read_text() == "the user's"
    assert (data_dir / "spark" / "keep.txt").read_text() == "the user's"


def test_a_symbolic_link_is_never_marked(tmp_path, notes):
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    assert not claim_data_dir(link, notes)
    assert not (target / DATA_DIR_MARKER).exists()


def test_claim_does_not_mark_a_directory_with_other_files(tmp_path, notes):
    data_dir = tmp_path / "project"
    fill(data_dir, ["logs", "src"])
    assert not claim_data_dir(data_dir, notes)
    assert not (data_dir / DATA_DIR_MARKER).exists()
    assert len(notes.warnings) == 1 and "src" in notes.warnings[0] and "--purge" in notes.warnings[0]


def test_claim_never_marks_the_home_directory(tmp_path, monkeypatch, notes):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not claim_data_dir(tmp_path, notes)
    assert not (tmp_path / DATA_DIR_MARKER).exists() and "home directory" in notes.warnings[0]


# -- PostgreSQL's cluster under /var/tmp -----------------------------------------------------------------------
@pytest.fixture
def shared_stack(settings, monkeypatch) -> LocalStack:
    """A stack whose PostgreSQL account cannot reach the data directory: the cluster goes to (fake) /var/tmp."""
    monkeypatch.setattr(postgres, "_traversable_by", lambda path, user: False)
    stack = LocalStack(settings)
    stack.postgres._user = pwd.getpwuid(os.geteuid())
    assert stack.postgres.home_is_shared and stack.postgres.home.parent == postgres.SHARED_TMP
    claim_data_dir(settings.data_dir)
    fill(settings.data_dir)
    fill(stack.postgres.home, ["data", "run"])
    return stack


def test_purge_deletes_a_marked_cluster_under_var_tmp(shared_stack):
    home = shared_stack.postgres.home
    mark_owned(home, postgres.HOME_KIND, data_dir=str(shared_stack.settings.data_dir))
    shared_stack.down(purge=True, timeout=1)
    assert not home.exists()
    assert not (shared_stack.settings.data_dir / "state").exists()


@pytest.mark.parametrize("marker", [None, "another data dir", "forged"])
def test_purge_refuses_an_unmarked_cluster_under_var_tmp(shared_stack, marker):
    home = shared_stack.postgres.home
    if marker == "another data dir":
        mark_owned(home, postgres.HOME_KIND, data_dir="/somewhere/else")
    elif marker == "forged":
        (home / OWNED_MARKER).write_text("{}")
    before, data_before = snapshot(home), snapshot(shared_stack.settings.data_dir)
    with pytest.raises(AladiaError, match="nothing was deleted") as info:
        shared_stack.down(purge=True, timeout=1)
    assert "\n" not in str(info.value) and f"rm -rf {home}" in str(info.value)
    assert snapshot(home) == before and snapshot(shared_stack.settings.data_dir) == data_before


def test_purge_refuses_a_cluster_path_that_is_a_symbolic_link(settings, monkeypatch, tmp_path):
    monkeypatch.setattr(postgres, "_traversable_by", lambda path, user: False)
    stack = LocalStack(settings)
    stack.postgres._user = pwd.getpwuid(os.geteuid())
    claim_data_dir(settings.data_dir)
    elsewhere = tmp_path / "elsewhere"
    fill(elsewhere, ["data"])
    mark_owned(elsewhere, postgres.HOME_KIND, data_dir=str(settings.data_dir))
    stack.postgres.home.symlink_to(elsewhere)
    with pytest.raises(AladiaError):
        stack.down(purge=True, timeout=1)
    assert (elsewhere / "data" / "file").exists()
