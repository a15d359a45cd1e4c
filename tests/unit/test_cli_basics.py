"""CLI basics: version, fast help, one-line errors with named exit codes, --debug tracebacks with the same code,
usage errors in one line, the signal rule, shell completion, help without stray metavars."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from aladia_etl import __version__
from aladia_etl.core.errors import ExitCode
from tests.cli import invoke
from tests.helpers import REPO, env_for, run_cli


def test_version():
    result = invoke(["--version"])
    assert result.code == 0
    assert result.stdout.splitlines()[0] == f"aladia {__version__}"  # then the pinned components (test_doctor)


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from aladia_etl.cli import app\n"
        "import typer.main\n"
        "cmd = typer.main.get_command(app)\n"
        "names = ('pyspark', 'apache_beam', 'psycopg', 'kafka', 'requests', 'pandas', 'pydantic')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_invalid_setting_gives_one_line_and_config_exit_code():
    result = invoke(["config", "show"], {"ALADIA_POSTGRES__PORT": "abc"})
    assert result.code == ExitCode.CONFIG
    assert "ALADIA_POSTGRES__PORT" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback_and_keeps_the_exit_code():
    result = invoke(["--debug", "config", "show"], {"ALADIA_POSTGRES__PORT": "abc"})
    assert result.code == ExitCode.CONFIG
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["stream", "--bogus"], "No such option: --bogus"),
        (["nonsense"], "No such command"),
        (["simulate", "--events", "many"], "--events"),
        (["report", "--top"], "--top"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args, needle):
    result = invoke(args)
    assert result.code == ExitCode.USAGE, result.output
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--help" in result.stderr


def test_config_show_json_masks_secrets():
    result = invoke(["config", "show", "--json"], {"ALADIA_POSTGRES__PASSWORD": "topsecret"})
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["postgres"]["port"] == 5432
    assert "topsecret" not in result.stdout
    assert set(data["postgres"]["password"]) == {"*"}


def test_config_show_table_masks_secrets():
    result = invoke(["config", "show"], {"ALADIA_POSTGRES__PASSWORD": "topsecret"})
    assert result.code == 0
    assert "ALADIA_POSTGRES__PORT" in result.stdout
    assert "topsecret" not in result.output


def test_status_against_nothing_is_unhealthy(tmp_path):
    env = {
        "ALADIA_DATA_DIR": str(tmp_path),
        "ALADIA_POSTGRES__PORT": "1",
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ALADIA_CONNECT__URL": "http://127.0.0.1:1",
    }
    result = invoke(["status", "--json"], env)
    assert result.code == ExitCode.UNHEALTHY
    data = json.loads(result.stdout)
    assert data["healthy"] is False
    assert {c["name"] for c in data["components"]} == {"postgres", "kafka", "connect"}
    assert all(not c["healthy"] for c in data["components"])


CTRL_C_CHILD = """
import signal, sys, time
import aladia_etl.flows.status as status

# A terminal delivers Ctrl-C; a process started in the background by a non-interactive shell (as CI runners and
# `cmd &` do) inherits SIGINT *ignored*, and aladia rightly leaves an ignored signal ignored: the command under test
# gets the terminal's disposition back.
signal.signal(signal.SIGINT, signal.default_int_handler)

def waiting(settings, reporter=None):
    print("waiting", flush=True)
    time.sleep(120)
    raise AssertionError("not interrupted")

status.collect_status = waiting
from aladia_etl.cli import main
main(["status"])
"""


def test_ctrl_c_in_a_short_command_prints_one_line_and_exits_130(tmp_path):
    """The command runs in a process of its own (signal handlers are process-wide state), and the SIGINT is sent
    only once it says it is inside the command: no race with the handler's installation, however slow the host."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD],
        env=env_for({"ALADIA_DATA_DIR": str(tmp_path)}),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the command is inside collect_status (or the child ended)
        assert line.strip() == "waiting", (line, proc.stderr.read() if proc.poll() is not None else "")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert err.strip() == "error: interrupted"


def test_sigterm_to_a_waiting_command_prints_one_line_and_exits_130(tmp_path):
    """A real process blocked on a broker that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    env = {
        "ALADIA_DATA_DIR": str(tmp_path),
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{listener.getsockname()[1]}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "topics"],
        env=env_for(env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert accepted, "the command never connected"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        listener.close()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert err.strip() == "error: interrupted"


def test_help_shows_flags_without_metavars():
    for args in (["--help"], ["stream", "--help"], ["cdc", "restart", "--help"]):
        result = invoke(args)
        assert result.code == 0
        assert "<bool>" not in result.stdout
    assert "--json" in invoke(["status", "--help"]).stdout


def test_shell_completion_completes_commands_and_options():
    env = {"_ALADIA_COMPLETE": "complete_bash", "COMP_WORDS": "aladia cd", "COMP_CWORD": "1"}
    commands = run_cli([], env)
    assert commands.code == 0 and commands.stdout.split() == ["cdc"]
    env.update(COMP_WORDS="aladia stream --en", COMP_CWORD="2")
    assert run_cli([], env).stdout.split() == ["--engine"]
    script = invoke(["--show-completion", "bash"])
    assert script.code == 0 and "_aladia_completion" in script.stdout


def test_exit_codes_match_the_documented_table():
    page = (REPO / "docs" / "TROUBLESHOOTING.md").read_text()
    section = page.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    assert documented == {int(code) for code in ExitCode}


def test_dash_h_is_help_everywhere():
    for args in (["-h"], ["cdc", "register", "-h"], ["stream", "-h"]):
        result = invoke(args)
        assert result.code == 0 and "Usage: aladia" in result.stdout, (args, result.output)
    assert "New here? Run 'aladia doctor', then 'aladia demo'." in " ".join(invoke(["-h"]).stdout.split())


def piped(command: str, env: dict[str, str] | None = None) -> str:
    """The exit code of `aladia <command>` writing into a pipe whose reader is already gone."""
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        f"'{sys.executable}' -m aladia_etl {command} | true; echo ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    return proc.stdout.strip()


def test_output_into_a_pipe_closed_early_is_no_error():
    # rich's output (help), plain writes (--version, JSON) alike
    assert [piped(c) for c in ("--help", "--version", "--version --json", "config show --json")] == ["0"] * 4


def test_a_command_writing_into_a_closed_pipe_keeps_its_own_exit_code(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        env = {"ALADIA_DATA_DIR": str(tmp_path), "ALADIA_POSTGRES__PORT": str(held.getsockname()[1])}
        assert piped("doctor", env) == "5"  # a taken port stays a failure under `| head`


def test_version_json_in_process_and_after_other_root_options():
    for args in (["--version", "--json"], ["--log-format", "text", "--version", "--debug", "--json"]):
        result = invoke(args)
        assert result.code == 0 and json.loads(result.stdout)["aladia"] == __version__, (args, result.output)
