"""The launchers that keep the terminal's Ctrl-C away from Beam's worker processes and Prism (the stream drains them
itself): real processes started through them, no Beam needed."""

from __future__ import annotations

import os
import subprocess

from aladia_etl.core.settings import Settings
from aladia_etl.processing.beam.interrupts import prism_launcher, worker_python


def test_a_worker_started_through_the_launcher_ignores_sigint(tmp_path):
    directory = worker_python(Settings(data_dir=tmp_path))
    shown = subprocess.run(
        [
            str(directory / "python"),
            "-c",
            "import signal, sys; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN, sys.argv[1:])",
            "a b",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == "True ['a b']"  # arguments passed on untouched
    # written once: a second stream finds the same launcher
    assert worker_python(Settings(data_dir=tmp_path)) == directory


def test_prism_started_through_the_launcher_has_a_session_of_its_own_and_the_same_pid(tmp_path):
    fake = tmp_path / "prism with space"
    fake.write_text('#!/bin/sh\necho "$$ $(ps -o sid= -p $$) $1"\n')
    fake.chmod(0o755)
    launcher = prism_launcher(Settings(data_dir=tmp_path), fake)
    proc = subprocess.Popen([str(launcher), "--job_port"], stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=30)
    pid, session, argument = out.split()
    # the pid Beam holds (and signals when it stops Prism) is Prism's; its session is not the terminal's
    assert int(pid) == proc.pid and int(session) == proc.pid != os.getsid(0)
    assert argument == "--job_port"


def test_prism_ends_with_the_process_that_started_it(tmp_path):
    """A session of its own would outlive a kill -9 of the stream (or of its whole process group): the launcher
    gives Prism a death signal, so it ends with the process that started it."""
    import signal
    import sys
    import time

    fake = tmp_path / "prism"
    fake.write_text("#!/bin/sh\nexec sleep 300\n")
    fake.chmod(0o755)
    launcher = prism_launcher(Settings(data_dir=tmp_path), fake)
    pid_file = tmp_path / "pid"
    starter = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, time; p = subprocess.Popen([{str(launcher)!r}]); "
         f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(300)"]
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    prism = int(pid_file.read_text())
    while os.getsid(prism) != prism:  # a session of its own, once the launcher has set it up
        assert time.monotonic() < deadline
        time.sleep(0.05)
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    while time.monotonic() < deadline:
        try:
            os.kill(prism, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(prism, signal.SIGKILL)
    raise AssertionError("prism outlived the process that started it")
