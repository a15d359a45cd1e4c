"""One parser per kind of value, the same in every command: durations (`stream` and `bench` read `500ms` alike),
engines and formats case-insensitively, and a usage error names the one option at fault."""

from __future__ import annotations

import pytest

from aladia_etl.cli.context import duration
from aladia_etl.core.errors import ExitCode, UsageError
from aladia_etl.processing.model import check_engine
from tests.cli import invoke


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("700ms", 0.7),  # whole milliseconds: Spark's interval parser takes no 0.7000000000000001
        ("1s", 1.0),
        ("2.5s", 2.5),
        (".5s", 0.5),
        ("1.5m", 90.0),
        ("3", 3.0),
        ("0.25", 0.25),
        (" 1S ", 1.0),
        ("1h", None),
    ],
)
def test_one_duration_parser(text, seconds):
    parse = duration("--trigger-interval")
    if seconds is None:
        with pytest.raises(UsageError, match="--trigger-interval: '1h' is not a duration"):
            parse(text)
    else:
        assert parse(text) == seconds


@pytest.mark.parametrize("text", ["0", "0ms", "0.0001ms", "-1s", "nan", "inf", "1e3", "3601", "", "s", "²", "\u0661s"])
def test_durations_that_are_not_refused_with_the_option_named(text):
    with pytest.raises(UsageError) as caught:
        duration("--trigger-interval")(text)
    assert caught.value.reason.startswith("--trigger-interval:")


@pytest.mark.parametrize("command", [["stream"], ["bench"]])
def test_stream_and_bench_refuse_the_same_bad_duration_alike(command):
    result = invoke([*command, "--trigger-interval", "soon"])
    assert result.code == ExitCode.USAGE
    assert "--trigger-interval: 'soon' is not a duration" in result.stderr and "Traceback" not in result.output


def test_engines_are_case_insensitive():
    assert check_engine("Spark") == "spark" and check_engine(" BEAM ") == "beam"
    result = invoke(["demo", "--engine", "Flink"])
    assert result.code == ExitCode.USAGE and "unknown engine 'flink'" in result.stderr


@pytest.mark.parametrize(("args", "option"), [(["--top", "-3"], "--top"), (["--minutes", "0"], "--minutes")])
def test_a_usage_error_names_the_one_option_at_fault(args, option):
    result = invoke(["report", *args])
    assert result.code == ExitCode.USAGE
    line = result.stderr.strip()
    assert f"'{option}'" in line and all(
        other not in line for other in {"--top", "--minutes", "--threshold"} - {option}
    )


def test_every_option_taking_a_value_says_what_the_value_is():
    """A placeholder names the value (SECONDS, TOPIC, spark|beam), never its Python type (<str>, <int range>)."""
    import typer

    from aladia_etl.cli import app

    def commands(command, path):
        subs = getattr(command, "commands", None)
        if not subs:
            yield path, command
            return
        for name, sub in subs.items():
            yield from commands(sub, [*path, name])

    unnamed = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, command in commands(typer.main.get_command(app), ["aladia"])
        for param in command.params
        if not getattr(param, "is_flag", False) and not param.hidden and param.metavar is None
    ]
    assert not unnamed, f"options without a metavar: {unnamed}"
