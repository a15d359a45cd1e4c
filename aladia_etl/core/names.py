"""Names a user gives aladia (stream and connector names) and identifiers it configures (replication slot,
publication, databases, topic prefix) are checked against a strict pattern before they reach a path, SQL, a regex
or a URL. Anything else is refused with one line naming the rule."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from aladia_etl.core.errors import UsageError

# kind → (pattern, what the rule says)
RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "stream": (
        re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}"),
        "1-63 letters, digits, '-' or '_', starting with a letter or digit",
    ),
    "connector": (
        re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"),
        "1-100 letters, digits, '.', '-' or '_', starting with a letter or digit",
    ),
    "slot": (re.compile(r"[a-z0-9_]{1,63}"), "1-63 lower-case letters, digits or '_' (PostgreSQL's rule for slots)"),
    "publication": (
        re.compile(r"[a-z_][a-z0-9_]{0,62}"),
        "1-63 lower-case letters, digits or '_', not starting with a digit",
    ),
    "database": (
        re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}"),
        "1-63 letters, digits or '_', not starting with a digit",
    ),
    "topic prefix": (
        re.compile(r"(?=.{1,100}$)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*"),
        "1-100 letters, digits, '-' or '_', in parts separated by single dots",
    ),
}


def problem(kind: str, value: object) -> str | None:
    """Why `value` is not a valid name of this kind, or None."""
    pattern, rule = RULES[kind]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return f"{value!r} is not a valid {kind} name: use {rule}"
    return None


def check(kind: str, value: str, option: str) -> str:
    """A command-line name: a usage error (exit 2) when it breaks the rule."""
    reason = problem(kind, value)
    if reason:
        raise UsageError(
            f"{option}: {reason}", f"e.g. {option} {'default' if kind == 'stream' else 'orders-connector'}"
        )
    return value


def masked_url(url: str) -> str:
    """The URL with any password replaced by '********' (user names stay)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    credentials, _, host = parts.netloc.rpartition("@")
    user = credentials.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))
