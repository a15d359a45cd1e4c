"""Bad input at the edge: settings, .env, options, names and paths. Each gives one line on stderr naming what is
wrong, its documented exit code (configuration 3, usage 2), no traceback, no secret, and touches nothing: every
service address points at a closed port, so a check that ran after connecting would exit 4 instead."""

from __future__ import annotations

import pytest

from aladia_etl.core.errors import ExitCode
from tests.cli import invoke

CONFIG, USAGE = ExitCode.CONFIG, ExitCode.USAGE
SECRET = "s3cr3t-value"

# (id, environment, arguments, exit code, text the one line must contain)
SETTINGS = [
    ("data dir empty", {"ALADIA_DATA_DIR": ""}, ["status"], CONFIG, "ALADIA_DATA_DIR"),
    ("cache dir empty", {"ALADIA_CACHE_DIR": " "}, ["status"], CONFIG, "ALADIA_CACHE_DIR"),
    ("pg port text", {"ALADIA_POSTGRES__PORT": "abc"}, ["status"], CONFIG, "ALADIA_POSTGRES__PORT"),
    ("pg port zero", {"ALADIA_POSTGRES__PORT": "0"}, ["status"], CONFIG, "ALADIA_POSTGRES__PORT"),
    ("pg port too big", {"ALADIA_POSTGRES__PORT": "70000"}, ["status"], CONFIG, "ALADIA_POSTGRES__PORT"),
    ("pg host empty", {"ALADIA_POSTGRES__HOST": ""}, ["status"], CONFIG, "ALADIA_POSTGRES__HOST"),
    ("pg host with space", {"ALADIA_POSTGRES__HOST": "bad host"}, ["status"], CONFIG, "ALADIA_POSTGRES__HOST"),
    ("pg user empty", {"ALADIA_POSTGRES__USER": ""}, ["status"], CONFIG, "ALADIA_POSTGRES__USER"),
    ("pg password empty", {"ALADIA_POSTGRES__PASSWORD": ""}, ["status"], CONFIG, "ALADIA_POSTGRES__PASSWORD"),
    ("source db injection", {"ALADIA_POSTGRES__SOURCE_DB": "x;drop"}, ["status"], CONFIG, "not a valid database"),
    ("warehouse db empty", {"ALADIA_POSTGRES__WAREHOUSE_DB": ""}, ["status"], CONFIG, "ALADIA_POSTGRES__WAREHOUSE_DB"),
    ("warehouse db digit", {"ALADIA_POSTGRES__WAREHOUSE_DB": "1wh"}, ["status"], CONFIG, "not a valid database"),
    ("postgres group not json", {"ALADIA_POSTGRES": "notjson"}, ["status"], CONFIG, "ALADIA_POSTGRES"),
    ("postgres group a list", {"ALADIA_POSTGRES": f'["{SECRET}"]'}, ["status"], CONFIG, "ALADIA_POSTGRES"),
    ("bootstrap empty", {"ALADIA_KAFKA__BOOTSTRAP_SERVERS": ""}, ["status"], CONFIG, "BOOTSTRAP_SERVERS"),
    ("bootstrap port text", {"ALADIA_KAFKA__BOOTSTRAP_SERVERS": "localhost:abc"}, ["status"], CONFIG, "not host:port"),
    ("bootstrap port zero", {"ALADIA_KAFKA__BOOTSTRAP_SERVERS": "localhost:0"}, ["status"], CONFIG, "not host:port"),
    ("bootstrap empty entry", {"ALADIA_KAFKA__BOOTSTRAP_SERVERS": "a:1,,b:2"}, ["status"], CONFIG, "empty entry"),
    ("controller port", {"ALADIA_KAFKA__CONTROLLER_PORT": "-1"}, ["status"], CONFIG, "CONTROLLER_PORT"),
    ("kafka heap", {"ALADIA_KAFKA__HEAP": "lots"}, ["status"], CONFIG, "heap size"),
    ("connect url scheme", {"ALADIA_CONNECT__URL": "ftp://x"}, ["status"], CONFIG, "http(s) URL"),
    ("connect url port text", {"ALADIA_CONNECT__URL": "http://127.0.0.1:abc"}, ["status"], CONFIG, "numeric port"),
    (
        "connect url bad port with password",
        {"ALADIA_CONNECT__URL": f"http://user:{SECRET}@host:99999"},
        ["status"],
        CONFIG,
        "ALADIA_CONNECT__URL",
    ),
    ("connect url path", {"ALADIA_CONNECT__URL": "http://h:8083/x"}, ["status"], CONFIG, "without a path"),
    ("connect url empty", {"ALADIA_CONNECT__URL": ""}, ["status"], CONFIG, "ALADIA_CONNECT__URL"),
    ("connect timeout nan", {"ALADIA_CONNECT__TIMEOUT_S": "nan"}, ["status"], CONFIG, "TIMEOUT_S"),
    ("connect timeout zero", {"ALADIA_CONNECT__TIMEOUT_S": "0"}, ["status"], CONFIG, "TIMEOUT_S"),
    ("connector name empty", {"ALADIA_CDC__CONNECTOR_NAME": ""}, ["status"], CONFIG, "CONNECTOR_NAME"),
    ("connector name dots", {"ALADIA_CDC__CONNECTOR_NAME": ".."}, ["status"], CONFIG, "not a valid connector"),
    ("connector name slash", {"ALADIA_CDC__CONNECTOR_NAME": "a/b"}, ["status"], CONFIG, "not a valid connector"),
    ("topic prefix dots", {"ALADIA_CDC__TOPIC_PREFIX": "a..b"}, ["status"], CONFIG, "not a valid topic prefix"),
    ("topic prefix regex", {"ALADIA_CDC__TOPIC_PREFIX": ".*"}, ["status"], CONFIG, "not a valid topic prefix"),
    ("slot name case", {"ALADIA_CDC__SLOT_NAME": "Bad-Slot"}, ["status"], CONFIG, "not a valid slot"),
    ("publication quote", {"ALADIA_CDC__PUBLICATION": 'x"; drop'}, ["status"], CONFIG, "not a valid publication"),
    ("heartbeat too short", {"ALADIA_CDC__HEARTBEAT_INTERVAL_MS": "10"}, ["status"], CONFIG, "HEARTBEAT"),
    ("partitions zero", {"ALADIA_CDC__TOPIC_PARTITIONS": "0"}, ["status"], CONFIG, "TOPIC_PARTITIONS"),
    ("partitions huge", {"ALADIA_CDC__TOPIC_PARTITIONS": "1000"}, ["status"], CONFIG, "TOPIC_PARTITIONS"),
]

OPTIONS = [
    ("simulate rate zero", ["simulate", "--rate", "0", "--events", "5"], "--rate"),
    ("simulate rate nan", ["simulate", "--rate", "nan", "--events", "5"], "--rate"),
    ("simulate duration nan", ["simulate", "--duration", "nan"], "--duration"),
    ("simulate duration negative", ["simulate", "--duration", "-1"], "--duration"),
    ("simulate neither", ["simulate"], "exactly one of --duration and --events"),
    ("simulate both", ["simulate", "--duration", "5", "--events", "5"], "exactly one of --duration and --events"),
    ("simulate mix nan", ["simulate", "--mix", "insert=nan", "--events", "5"], "--mix"),
    ("simulate mix unknown op", ["simulate", "--mix", "bogus=1", "--events", "5"], "--mix"),
    ("simulate mix negative", ["simulate", "--mix", "insert=-1", "--events", "5"], "--mix"),
    ("simulate mix all zero", ["simulate", "--mix", "insert=0,update=0,delete=0", "--events", "5"], "--mix"),
    ("simulate events zero", ["simulate", "--events", "0"], "--events"),
    ("simulate workers zero", ["simulate", "--events", "5", "--workers", "0"], "--workers"),
    ("simulate workers huge", ["simulate", "--events", "5", "--workers", "65"], "--workers"),
    ("simulate workers text", ["simulate", "--events", "5", "--workers", "many"], "--workers"),
    ("simulate txn size zero", ["simulate", "--events", "5", "--txn-size", "0"], "--txn-size"),
    ("simulate txn size huge", ["simulate", "--events", "5", "--txn-size", "1001"], "--txn-size"),
    ("stream engine", ["stream", "--engine", "flink"], "unknown engine 'flink'"),
    ("stream name parent", ["stream", "--name", "../.."], "--name"),
    ("stream name empty", ["stream", "--name", ""], "--name"),
    ("stream name absolute", ["stream", "--name", "/etc"], "--name"),
    ("stream trigger interval", ["stream", "--trigger-interval", "soon"], "--trigger-interval"),
    ("stream duration nan", ["stream", "--duration", "nan"], "--duration"),
    ("stream settle negative", ["stream", "--settle", "-1"], "--settle"),
    ("stream batch zero", ["stream", "--max-records-per-batch", "0"], "--max-records-per-batch"),
    ("stream conf", ["stream", "--conf", "novalue"], "--conf"),
    ("report threshold nan", ["report", "--threshold", "nan"], "--threshold"),
    ("report top zero", ["report", "--top", "0"], "--top"),
    ("report top huge", ["report", "--top", "1000000000"], "--top"),
    ("report top float", ["report", "--top", "1e30"], "--top"),
    ("report minutes zero", ["report", "--minutes", "0"], "--minutes"),
    ("report since", ["report", "--since", "yesterday"], "--since"),
    ("report format", ["report", "--format", "pdf"], "--format"),
    ("report section", ["report", "nonsense"], "unknown report section"),
    ("consume timeout negative", ["consume", "t", "--timeout", "-1"], "--timeout"),
    ("consume max zero", ["consume", "t", "--max", "0"], "--max"),
    ("cdc tables empty", ["cdc", "register", "--tables", ",,,"], "--tables"),
    ("cdc tables unknown", ["cdc", "register", "--tables", "shipments"], "unknown table"),
    ("cdc name dots", ["cdc", "register", "--name", ".."], "--name"),
    ("cdc status dots", ["cdc", "status", ".."], "not a valid connector"),
    ("cdc delete slash", ["cdc", "delete", "a/../b"], "not a valid connector"),
    ("cdc timeout nan", ["cdc", "register", "--timeout", "nan"], "--timeout"),
    ("bench engine", ["bench", "--engines", "flink"], "unknown engine or peer"),
    ("bench rate nan", ["bench", "--rate", "nan"], "--rate"),
    ("bench events small", ["bench", "--events", "5"], "--events"),
    ("bench sustained rates", ["bench", "--sustained-rates", "a,b"], "--sustained-rates"),
    ("demo engine", ["demo", "--engine", "flink"], "unknown engine 'flink'"),
    ("demo rate zero", ["demo", "--rate", "0"], "--rate"),
    ("dlq replay nothing", ["dlq", "replay"], "give dead letter ids or --all"),
    ("dlq status", ["dlq", "list", "--status", "zombie"], "--status"),
    ("dlq purge date", ["dlq", "purge", "--before", "soon"], "--before"),
    ("dlq purge missing", ["dlq", "purge"], "--before"),
    ("up timeout nan", ["up", "--timeout", "nan"], "--timeout"),
    ("down timeout negative", ["down", "--timeout", "-5"], "--timeout"),
    ("unknown command", ["deploy"], "No such command"),
    ("unknown option", ["status", "--verbose"], "No such option"),
]


@pytest.fixture
def closed(tmp_path):
    """Settings whose every service is unreachable, and a data directory of the test's own."""
    return {
        "ALADIA_DATA_DIR": str(tmp_path / "data"),
        "ALADIA_POSTGRES__PORT": "1",
        "ALADIA_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ALADIA_CONNECT__URL": "http://127.0.0.1:1",
    }


def assert_one_line(result, code: int, needle: str) -> None:
    assert result.code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in result.output and SECRET not in result.output


@pytest.mark.parametrize(("env", "args", "code", "needle"), [c[1:] for c in SETTINGS], ids=[c[0] for c in SETTINGS])
def test_bad_settings(closed, tmp_path, env, args, code, needle):
    result = invoke(args, {**closed, **env}, cwd=tmp_path)
    assert_one_line(result, code, needle)


@pytest.mark.parametrize(("args", "needle"), [c[1:] for c in OPTIONS], ids=[c[0] for c in OPTIONS])
def test_bad_options(closed, tmp_path, args, needle):
    result = invoke(args, closed, cwd=tmp_path)
    assert_one_line(result, USAGE, needle)
    assert not (tmp_path / "data").exists()  # nothing touched


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"ALADIA_POSTGRES__PORT=\xff\xfe\n", "not UTF-8"),
        (b"ALADIA_POSTGRES__PORT=abc\n", "ALADIA_POSTGRES__PORT"),
        (b"ALADIA_DATA_DIR=\n", "ALADIA_DATA_DIR"),
        (f"ALADIA_CONNECT__URL=http://u:{SECRET}@h:x\n".encode(), "ALADIA_CONNECT__URL"),
        (b"ALADIA_CDC__CONNECTOR_NAME=..\n", "ALADIA_CDC__CONNECTOR_NAME"),
    ],
    ids=["non-utf8", "bad port", "empty data dir", "secret in a bad url", "connector name"],
)
def test_bad_dotenv(closed, tmp_path, content, needle):
    (tmp_path / ".env").write_bytes(content)
    named = content.split(b"=", 1)[0].decode("ascii")  # the .env's variable, not overridden by the environment
    env = {k: v for k, v in closed.items() if k not in (named, "ALADIA_POSTGRES__PORT")}
    result = invoke(["status"], env, cwd=tmp_path)
    assert_one_line(result, CONFIG, needle)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "--format", "json", "--out", "{dir}"], "is a directory"),
        (["report", "--format", "json", "--out", "{file}/x.json"], "is not a directory"),
        (["report", "--format", "html", "--out", "/proc/aladia-report.html"], "cannot create files"),
        (["report", "--format", "csv", "--out", "{file}"], "is a file"),
        (["bench", "--out", "/proc/bench.json"], "cannot create files"),
        (["bench", "--chart", "{file}/c.html"], "is not a directory"),
    ],
    ids=["json into a directory", "json under a file", "html in /proc", "csv into a file", "bench out", "chart"],
)
def test_bad_paths(closed, tmp_path, args, needle):
    directory = tmp_path / "adir"
    directory.mkdir()
    file = tmp_path / "afile"
    file.write_text("keep me")
    args = [a.format(dir=directory, file=file) for a in args]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = invoke(args, closed, cwd=tmp_path)
    assert_one_line(result, USAGE, needle)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and file.read_text() == "keep me"


def test_the_table_is_large_enough():
    assert len(SETTINGS) + len(OPTIONS) + 5 + 6 >= 60


def test_a_password_in_the_connect_url_is_never_printed(closed, tmp_path):
    env = {**closed, "ALADIA_CONNECT__URL": f"http://user:{SECRET}@127.0.0.1:1"}
    for args in (["config", "show", "--json"], ["config", "show"], ["status", "--json"], ["cdc", "list"]):
        result = invoke(args, env, cwd=tmp_path)
        assert SECRET not in result.output, (args, result.output)
    assert "user:********@127.0.0.1:1" in invoke(["config", "show", "--json"], env, cwd=tmp_path).stdout
