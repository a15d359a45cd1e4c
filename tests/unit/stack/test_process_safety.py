"""A pid file is used — and signalled — only for the very process aladia started: the same boot, start time and
command line. Anything else is stale: removed with a note, never signalled, never reported as managed."""

from __future__ import annotations

import json
import signal
import sys

import pytest

from aladia_etl.stack.local import LocalStack
from aladia_etl.stack.process import (
    ManagedProcess,
    ProcessRecord,
    boot_id,
    pid_alive,
    process_cmdline,
    process_start_ticks,
    runs_command,
)
from tests.unit.stack.conftest import wait_for


@pytest.fixture
def proc(tmp_path, notes) -> ManagedProcess:
    return ManagedProcess("fake", tmp_path / "state" / "fake.pid", tmp_path / "logs" / "fake.log", notes)


def write_pid_file(proc: ManagedProcess, text: str) -> None:
    proc.pid_file.parent.mkdir(parents=True, exist_ok=True)
    proc.pid_file.write_text(text)


def write_record(proc: ManagedProcess, pid: object, argv=("sleep", "60"), **changes: object) -> None:
    """A record as `start` writes it for the live process `pid` started with `argv` (made up for a pid that is no
    live process), then `changes`; and the pid file beside it."""
    live = isinstance(pid, int) and not isinstance(pid, bool) and pid_alive(pid)
    data = {
        "pid": pid,
        "boot_id": boot_id(),
        "start_ticks": process_start_ticks(pid) if live else 12345,
        "cmdline": list(argv),
        **changes,
    }
    proc.record_file.parent.mkdir(parents=True, exist_ok=True)
    proc.record_file.write_text(json.dumps(data))
    write_pid_file(proc, f"{pid}\n")


def assert_stale(proc: ManagedProcess, notes, guard) -> None:
    assert proc.pid() is None
    assert not proc.is_running()
    assert not proc.pid_file.exists() and not proc.record_file.exists()
    assert len(notes.warnings) == 1 and "stale pid file" in notes.warnings[0]
    assert proc.stop(timeout=1) is False
    assert guard.calls == []


# -- the happy path --------------------------------------------------------------------------------------------
def test_a_process_started_through_managed_process_is_verified_and_stopped(proc, notes, guard):
    pid = proc.start(["sleep", "300"])
    guard.allow(pid)
    record = ProcessRecord.from_json(proc.record_file.read_text())
    assert (record.pid, record.cmdline) == (pid, ("sleep", "300"))
    assert record.start_ticks == process_start_ticks(pid) and record.boot_id == boot_id()
    assert proc.pid_file.read_text() == f"{pid}\n"  # still a plain number, for people and scripts
    assert proc.pid() == pid and proc.is_running()

    assert proc.stop(timeout=5) is True
    assert guard.calls == [("kill", pid, signal.SIGTERM)]
    assert process_start_ticks(pid) is None  # gone (or a zombie awaiting its parent)
    assert not proc.pid_file.exists() and not proc.record_file.exists()
    assert proc.pid() is None and notes.warnings == []


def test_a_process_ignoring_the_first_signal_is_killed_with_its_process_group(proc, guard):
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(300)"
    )
    pid = proc.start([sys.executable, "-c", code])
    guard.allow(pid)
    assert wait_for(lambda: "ready" in proc.tail())
    assert proc.stop(timeout=0.3) is True
    assert guard.calls == [("kill", pid, signal.SIGTERM), ("killpg", pid, signal.SIGKILL)]
    assert process_start_ticks(pid) is None


def test_a_process_that_died_leaves_a_stale_pid_file(proc, notes, guard):
    pid = proc.start(["true"])
    assert wait_for(lambda: process_start_ticks(pid) is None)  # exited (a zombie until reaped)
    assert_stale(proc, notes, guard)
    assert f"process {pid} is not running" in notes.warnings[0]


# -- a pid file that names some other process ------------------------------------------------------------------
def test_a_reused_pid_in_an_old_style_pid_file_is_not_trusted(proc, notes, guard, sleeper):
    write_pid_file(proc, f"{sleeper.pid}\n")  # as an older aladia wrote it: just the number
    assert_stale(proc, notes, guard)
    assert f"stop it yourself (kill {sleeper.pid})" in notes.warnings[0]
    assert "not verified as aladia's fake" in notes.warnings[0]
    assert sleeper.poll() is None  # still alive


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"start_ticks": 1}, "started at another time"),
        ({"cmdline": ["java", "kafka.Kafka", "/x/server.properties"]}, "now belongs to another process"),
        ({"boot_id": "00000000-0000-0000-0000-000000000000"}, "before the machine last booted"),
    ],
)
def test_a_record_that_does_not_match_the_live_process_is_stale(proc, notes, guard, sleeper, changes, why):
    write_record(proc, sleeper.pid, **changes)
    assert_stale(proc, notes, guard)
    assert why in notes.warnings[0]
    assert sleeper.poll() is None


def test_the_same_record_unchanged_is_trusted(proc, notes, sleeper):
    """The control for the test above: only the changed field makes the record stale."""
    write_record(proc, sleeper.pid)
    assert proc.pid() == sleeper.pid and notes.warnings == []


def test_down_and_status_leave_an_unrelated_process_alone(settings, notes, guard, sleeper, no_probes):
    stack = LocalStack(settings, notes)
    for component in stack.components:
        write_pid_file(component.process, f"{sleeper.pid}\n")
    for component in stack.components[:1]:
        write_record(component.process, sleeper.pid, start_ticks=1)  # and one with a record that does not match

    health = stack.status()
    assert [(h.pid, h.managed) for h in health] == [(None, False)] * 3
    for component in stack.components:
        write_pid_file(component.process, f"{sleeper.pid}\n")
    assert stack.down(timeout=1) == []
    assert guard.calls == []
    assert sleeper.poll() is None


# -- garbage ---------------------------------------------------------------------------------------------------
BAD_PIDS = ["-1", "0", "1", "", "   \n", "garbage", "12abc", "\x00\xff", "99999999999999999999999", "4194305", "-4242"]


@pytest.mark.parametrize("text", BAD_PIDS)
def test_a_bad_pid_file_is_stale_and_never_signalled(proc, notes, guard, text):
    write_pid_file(proc, text)
    assert_stale(proc, notes, guard)


@pytest.mark.parametrize("pid", [-1, 0, 1, 2**70, True, "1234", None, 4194305])
def test_a_bad_pid_in_a_record_is_stale_and_never_signalled(proc, notes, guard, pid):
    write_record(proc, pid, start_ticks=1, cmdline=["sleep", "60"])
    assert_stale(proc, notes, guard)


@pytest.mark.parametrize(
    "record",
    [
        "",
        "{",
        "[]",
        "null",
        '{"pid": 1234}',
        '{"pid": 1234, "boot_id": "b", "start_ticks": 1, "cmdline": []}',
        "x" * 2_000_000,
        "[" * 200_000,
    ],
)
def test_an_unreadable_record_is_stale(proc, notes, guard, sleeper, record):
    write_pid_file(proc, f"{sleeper.pid}\n")
    proc.record_file.write_text(record)
    assert_stale(proc, notes, guard)
    assert "unreadable" in notes.warnings[0]
    assert sleeper.poll() is None


def test_stop_with_a_minus_one_pid_file_in_every_component_signals_nothing(settings, guard):
    stack = LocalStack(settings)
    for component in stack.components:
        write_pid_file(component.process, "-1\n")
    assert stack.down(timeout=1) == []
    assert guard.calls == []


def test_pid_alive_never_answers_for_a_process_group():
    assert not pid_alive(-1) and not pid_alive(0) and not pid_alive(2**70)


def test_a_fresh_pid_file_is_not_removed_on_the_strength_of_an_old_reading(proc, notes, guard, monkeypatch):
    """A concurrent `aladia up` may write a new pid file while another command judges the old one stale."""
    write_pid_file(proc, "garbage")
    from aladia_etl.stack import process as process_module

    real = process_module._read_small
    calls = []

    def racing(path):
        calls.append(path)
        if len(calls) == 3:  # the re-read before removal: `up` has just replaced the pid file
            proc.pid_file.write_text("4242\n")
        return real(path)

    monkeypatch.setattr(process_module, "_read_small", racing)
    assert proc.pid() is None
    assert proc.pid_file.read_text() == "4242\n"
    assert guard.calls == []


def test_a_launcher_that_execs_the_real_program_is_still_the_recorded_process(proc, guard, tmp_path):
    """As a shell shim in front of `java` does: the program changes, the arguments aladia passed do not."""
    shim = tmp_path / "shim"
    shim.write_text('#!/bin/sh\nread line\nexec sleep "$@"\n')
    shim.chmod(0o755)
    proc.start([str(shim), "300"])  # stdin is /dev/null: `read` returns at once
    pid = proc.pid()
    guard.allow(pid)
    try:
        assert wait_for(lambda: process_cmdline(pid) == ("sleep", "300"))
        assert proc.pid() == pid
    finally:
        assert proc.stop(timeout=5)


@pytest.mark.parametrize(
    ("cmdline", "argv", "same"),
    [
        (
            ("java", "-cp", "x", "kafka.Kafka", "/d/server.properties"),
            ("java", "-cp", "x", "kafka.Kafka", "/d/server.properties"),
            True,
        ),
        (
            ("/bin/sh", "/shims/java", "-cp", "x", "kafka.Kafka", "/d/s"),
            ("/shims/java", "-cp", "x", "kafka.Kafka", "/d/s"),
            True,
        ),
        (
            ("java", "-cp", "x", "kafka.Kafka", "/other/server.properties"),
            ("java", "-cp", "x", "kafka.Kafka", "/d/s"),
            False,
        ),
        (("kafka.Kafka", "/d/s"), ("java", "kafka.Kafka", "/d/s"), False),
        (("/usr/bin/sleep",), ("sleep",), True),
        (("/usr/bin/true",), ("sleep",), False),
        ((), ("sleep", "60"), False),
    ],
)
def test_runs_command(cmdline, argv, same):
    assert runs_command(cmdline, argv) is same
