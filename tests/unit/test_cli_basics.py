"""CLI basics: version, fast help, one-line errors with named exit codes, --debug tracebacks."""

from __future__ import annotations

import json
import sys

from aladia_etl import __version__
from aladia_etl.core.errors import ExitCode
from tests.helpers import run_cli


def test_version():
    result = run_cli(["--version"], {})
    assert result.code == 0
    assert result.stdout.strip() == f"aladia {__version__}"


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
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_invalid_setting_gives_one_line_and_config_exit_code():
    result = run_cli(["config", "show"], {"ALADIA_POSTGRES__PORT": "abc"})
    assert result.code == ExitCode.CONFIG
    assert "ALADIA_POSTGRES__PORT" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback():
    result = run_cli(["--debug", "config", "show"], {"ALADIA_POSTGRES__PORT": "abc"})
    assert result.code != 0
    assert "Traceback" in result.stderr


def test_config_show_json_masks_secrets():
    result = run_cli(["config", "show", "--json"], {"ALADIA_POSTGRES__PASSWORD": "topsecret"})
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["postgres"]["port"] == 5432
    assert "topsecret" not in result.stdout
    assert set(data["postgres"]["password"]) == {"*"}


def test_config_show_table_masks_secrets():
    result = run_cli(["config", "show"], {"ALADIA_POSTGRES__PASSWORD": "topsecret"})
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
    result = run_cli(["status", "--json"], env, timeout=60)
    assert result.code == ExitCode.UNHEALTHY
    data = json.loads(result.stdout)
    assert data["healthy"] is False
    assert {c["name"] for c in data["components"]} == {"postgres", "kafka", "connect"}
    assert all(not c["healthy"] for c in data["components"])
