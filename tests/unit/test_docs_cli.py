"""The documentation and the command line cannot drift apart: every `aladia <command> --option` that README.md or a
page of docs/ mentions (in code spans and shell code blocks) names a command and options the real CLI has, and
README's tour of the commands mentions every command the CLI has (every subcommand of a group is mentioned
somewhere in the docs)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import typer

from aladia_etl.cli import app
from tests.helpers import REPO

DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
TOUR = "## Commands"  # README's tour of the commands
# Fenced blocks whose lines are shell commands; others (yaml, text transcripts, properties) are not parsed.
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
# Where a command in a shell line stops: a comment, `&&`, `||`, `;`, a pipe.
COMMENT = re.compile(r"(?:^|\s)#")
SEPARATORS = re.compile(r"\s(?:&&|\|\||;|\|)\s|;$")
# `aladia` as a command: at the start, after whitespace, a path (`.venv/bin/aladia`) or an environment assignment.
INVOCATION = re.compile(r"(?:^|(?<=[\s/]))aladia\s+(\S.*)$")
OPTION = re.compile(r"-{1,2}[A-Za-z][A-Za-z0-9_-]*")
PLACEHOLDER = re.compile(r"^(?:<.*|\[.*|…|\.\.\.|\$.*)$")


def root_command():
    """The click command tree (typer ≥ 0.29 vendors click, so commands and options are told apart by what they have,
    not by click's classes)."""
    return typer.main.get_command(app)


def _is_group(command) -> bool:
    return hasattr(command, "commands")


@dataclass(frozen=True)
class Mention:
    file: str
    line: int
    text: str  # what follows `aladia `


def _fenced_blocks(text: str) -> tuple[str, list[tuple[int, str]]]:
    """The text with fenced blocks blanked (line numbers kept), and the shell blocks' lines (number, line)."""
    out, shell_lines, fence = [], [], None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip().lower()
            out.append("")
            continue
        if fence is None:
            out.append(line)
        else:
            out.append("")
            if fence in SHELL_FENCES:
                shell_lines.append((number, line))
    return "\n".join(out), shell_lines


def mentions(text: str, file: str = "<text>") -> list[Mention]:
    """Every `aladia …` invocation of the text: in inline code spans (which may wrap lines) and in shell blocks."""
    prose, shell_lines = _fenced_blocks(text)
    found = []
    for match in re.finditer(r"`([^`]+)`", prose):
        span = " ".join(match.group(1).split())
        if hit := INVOCATION.search(span):
            found.append(Mention(file, prose.count("\n", 0, match.start()) + 1, hit.group(1)))
    for number, line in shell_lines:
        command_line = COMMENT.split(line, maxsplit=1)[0]
        for segment in SEPARATORS.split(command_line):
            if hit := INVOCATION.search(segment.strip()):
                found.append(Mention(file, number, hit.group(1)))
    return found


def _options(command) -> dict[str, bool]:
    """The command's options → whether each takes a value; `-h`/`--help` everywhere (the root's help names)."""
    out = {"-h": False, "--help": False}
    for param in command.params:
        if param.param_type_name == "option":
            for name in (*param.opts, *param.secondary_opts):
                out[name] = not param.is_flag and not param.count
    return out


def resolve(mention: Mention, root) -> tuple[list[str], list[str]]:
    """(the command path the mention names, its problems). Root options come before the command's name, the
    command's own options after it; an option that takes a value skips the next word (`--conf k=v`)."""
    words = mention.text.split()
    problems: list[str] = []
    where = f"{mention.file}:{mention.line}: `aladia {mention.text}`"
    command = root
    path: list[str] = []
    i = 0
    options = _options(root)
    # the root's options, before the command's name
    while i < len(words) and words[i].startswith("-"):
        name = words[i].split("=", 1)[0]
        if name not in options:
            problems.append(f"{where}: {name} is not an option of 'aladia' (root options go before the command)")
        elif options[name] and "=" not in words[i]:
            i += 1
        i += 1
    # the command's name, and a group's subcommands
    while _is_group(command) and i < len(words):
        word = words[i]
        if PLACEHOLDER.match(word) or word.startswith("-"):
            break
        sub = command.commands.get(word)
        if sub is None or getattr(sub, "hidden", False):
            problems.append(f"{where}: {' '.join(['aladia', *path, word])} is not a command")
            return path, problems
        command, path = sub, [*path, word]
        i += 1
    if not path:
        return path, problems
    options = _options(command)
    while i < len(words):
        word = words[i].strip("[](){}")
        for part in word.split("/"):  # --matrix/--no-matrix
            match = OPTION.fullmatch(part.split("=", 1)[0])
            if match is None:
                continue
            name = match.group(0)
            if name not in options:
                problems.append(f"{where}: {name} is not an option of 'aladia {' '.join(path)}'")
            elif options[name] and "=" not in part:
                i += 1  # its value: `--pipeline-option --job_endpoint=…` is not an option of aladia's
        i += 1
    return path, problems


def all_mentions() -> list[Mention]:
    return [m for path in DOCS for m in mentions(path.read_text(), str(path.relative_to(REPO)))]


def commands(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every visible command's path: ("stream",), ("cdc",), ("cdc", "register"), …"""
    out = []
    for name, command in group.commands.items():
        if getattr(command, "hidden", False):
            continue
        out.append((*prefix, name))
        if _is_group(command):
            out += commands(command, (*prefix, name))
    return out


def test_every_mentioned_command_and_option_exists():
    found = all_mentions()
    assert len(found) > 100, f"only {len(found)} mentions of `aladia …` found: is the parser still working?"
    root = root_command()
    problems = [problem for mention in found for problem in resolve(mention, root)[1]]
    assert not problems, "the docs name commands or options the CLI does not have:\n" + "\n".join(problems)


def test_the_readme_tour_mentions_every_command():
    readme = (REPO / "README.md").read_text()
    assert TOUR in readme, f"README.md has no '{TOUR}' section"
    tour = readme.split(TOUR, 1)[1].split("\n## ", 1)[0]
    root = root_command()
    named = {path[0] for m in mentions(tour, "README.md") if (path := resolve(m, root)[0])}
    missing = [name for (name,) in (path for path in commands(root) if len(path) == 1) if name not in named]
    assert not missing, f"README's tour ({TOUR}) does not mention: {', '.join(f'aladia {c}' for c in missing)}"


def test_every_subcommand_is_documented_somewhere():
    root = root_command()
    named = {tuple(resolve(m, root)[0]) for m in all_mentions()}
    missing = [" ".join(path) for path in commands(root) if len(path) > 1 and path not in named]
    assert not missing, f"no page mentions: {', '.join(f'aladia {c}' for c in missing)}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("`aladia stream --engine beam --no-such-option`", "--no-such-option is not an option of 'aladia stream'"),
        ("```bash\naladia cdc register --nmae x   # typo\n```", "--nmae is not an option of 'aladia cdc register'"),
        ("`aladia bench --pipeline FILE`", "--pipeline is not an option of 'aladia bench'"),
        ("`aladia --no-such-root stream`", "--no-such-root is not an option of 'aladia'"),
        ("`aladia streem --until-idle`", "aladia streem is not a command"),
        ("`aladia dlq frobnicate`", "aladia dlq frobnicate is not a command"),
    ],
)
def test_the_check_finds_what_does_not_exist(text, problem):
    (mention,) = mentions(text)
    assert any(problem in found for found in resolve(mention, root_command())[1]), resolve(mention, root_command())


@pytest.mark.parametrize(
    "text",
    [
        "`aladia --pipeline shop.yaml stream --engine beam --until-idle`",
        "`aladia --log-format json stream --engine spark`",
        "`aladia stream --runner PortableRunner --pipeline-option --job_endpoint=host:8099`",
        "`aladia bench [--matrix/--no-matrix] [--out FILE.json]`",
        "`aladia simulate [--rate R] (--duration S | --events N) [--mix insert=5,update=4,delete=1]`",
        "```bash\nALADIA_DATA_DIR=~/x .venv/bin/aladia up --secure && aladia demo   # then --whatever\n```",
        "`aladia <command> --help`",
    ],
)
def test_the_check_accepts_what_exists(text):
    for mention in mentions(text):
        assert resolve(mention, root_command())[1] == [], mention


def test_the_readme_stays_a_first_screen_and_a_map():
    """#24: the README is where a newcomer starts (the two commands, the demo, the tour, the map of docs/); the
    internals live in docs/. It stays within 200 lines, and its first lines after the title hold the two commands."""
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move the detail into docs/"
    first = "\n".join(lines[:30])
    assert "aladia demo" in first and "scripts/test" in first, first
