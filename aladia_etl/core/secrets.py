"""The one masking function for everything aladia writes out — the terminal, log lines, the streams' state files, the
health API and metrics. It masks, in any text:

- a URL's password, found by parsing every URL (any scheme, upper- or lower-case, with escapes decoded or not, a
  password that itself holds '@', ':' or '/'): `scheme://user:********@host`;
- the value of any `…password=`, `PGPASSWORD=`, `"password": "…"`, `secret:`, `token=` pair, wherever it stands
  (a quoted value up to its closing quote, escapes honoured; JSON's null, true, false, lists and objects are left
  as they are, so JSON stays JSON);
- every configured secret (registered when settings load), also in its URL-escaped forms, where it stands as a
  value of its own (not inside a longer word or number).

Every step is linear in the length of the text (a long dead-letter value or a base64 field must not stall output).
`mask_data` does the same through dicts and lists, and hides the whole value of a key that names a secret.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "********"

# The documented default password is public, and too common a word to mask everywhere.
_PUBLIC = frozenset({"postgres"})
_MIN_LENGTH = 4

_SECRET_WORD = re.compile(r"password|passwd|pwd|secret|token|api[_-]?key|credential", re.IGNORECASE)
_NAME_TAIL = re.compile(r"[\w.-]+\Z")  # searched within text[pos - 64:pos]: the name characters just before
_NAME_RUN = re.compile(r"[\w.-]{0,64}")
_KEY = re.compile(r"^[\w.-]{0,64}(?:password|passwd|pwd|secret|token|api[_-]?key|credential)[\w.-]{0,64}$", re.I)
_NOT_SECRET_KEYS = frozenset({"batch_token", "token_prefix"})
_SEPARATOR = re.compile(r"[\"']?[ \t]{0,8}([=:])[ \t]{0,8}")
_UNQUOTED_END = re.compile(r"[\s\"',;&)}\]\\]")  # a backslash too: an escaped quote stays escaped
_JSON_LITERAL = re.compile(r"(?:null|true|false)(?![\w])|[\[{]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")

_SCHEME_CHAR = re.compile(r"[A-Za-z0-9+.-]")
_HOST = re.compile(r"[A-Za-z0-9._~%-]+(?::\d*)?|\[[0-9A-Fa-f:.%A-Za-z]+\](?::\d*)?")
_URL_END = re.compile(r"[\s\"'<>`]")
_AUTHORITY_LIMIT = 2048  # a URL's user information and host are never longer
_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def is_secret_name(name: str) -> bool:
    """Whether a setting or field of this name holds a secret (its value is never quoted, e.g. in an error)."""
    return bool(_SECRET_WORD.search(name) or re.search(r"jaas|key_?file|keystore|ssl_?key", name, re.IGNORECASE))


def register(value: str | None) -> None:
    """A value that must never be written out (a configured password, a token), in every form it may take."""
    global _pattern
    if not value or len(value) < _MIN_LENGTH or value in _PUBLIC:
        return
    escaped = quote(value, safe="")
    forms = {value, escaped, quote_plus(value), _HEX_ESCAPE.sub(lambda m: m.group().lower(), escaped)}
    with _lock:
        _secrets.update(f for f in forms if len(f) >= _MIN_LENGTH)
        _pattern = _compile(_secrets)


def forget_all() -> None:
    """For tests: drop every registered secret."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def _compile(found: set[str]) -> re.Pattern[str] | None:
    """One alternation of the secrets, longest first, each standing as a value of its own: not preceded or followed
    by a letter or digit where its own first or last character is one (a password `1234` in `12345` is no match)."""
    if not found:
        return None
    parts = []
    for secret in sorted(found, key=len, reverse=True):
        before = r"(?<![A-Za-z0-9])" if secret[0].isalnum() else ""
        after = r"(?![A-Za-z0-9])" if secret[-1].isalnum() else ""
        parts.append(f"{before}{re.escape(secret)}{after}")
    return re.compile("|".join(parts))


# -- URLs ------------------------------------------------------------------------------------------------------------
def _mask_urls(text: str) -> str:
    out: list[str] = []
    pos = 0  # what is copied to `out` already
    scanned = 0  # URLs inside a token already looked at are not looked at again (linear time)
    search = 0
    while True:
        found = text.find("://", search)
        if found < 0:
            break
        search = found + 3
        scheme_from = found
        while scheme_from > 0 and found - scheme_from < 32 and _SCHEME_CHAR.match(text, scheme_from - 1):
            scheme_from -= 1
        if scheme_from == found or scheme_from < scanned or not text[scheme_from].isalpha():
            continue
        authority_from = found + 3
        limit = min(len(text), authority_from + _AUTHORITY_LIMIT)
        end = _URL_END.search(text, authority_from, limit)
        token_end = end.start() if end else limit
        scanned = search = token_end
        at = _credentials_end(text, authority_from, token_end)
        if at is None:
            continue
        userinfo = text[authority_from:at]
        user, _, _ = userinfo.partition(":")
        out.append(text[pos:authority_from])
        out.append(f"{user}:{MASK}" if ":" in userinfo else MASK)
        pos = at
    out.append(text[pos:])
    return "".join(out)


def _credentials_end(text: str, start: int, end: int) -> int | None:
    """Where the user information of the URL authority in text[start:end] ends (the '@' before its host), or None.
    The user information holds a password (a ':'), or is a long token; it never holds '?', '#' or another URL."""
    at = text.rfind("@", start, end)
    while at >= 0:
        host = _HOST.match(text, at + 1, end)
        if host and (host.end() == end or text[host.end()] in "/?#),;]}"):
            userinfo = text[start:at]
            plain = "?" not in userinfo and "#" not in userinfo and "://" not in userinfo
            if plain and (":" in userinfo or (len(userinfo) >= 20 and "/" not in userinfo)):
                return at
        at = text.rfind("@", start, at)
    return None


# -- key = value pairs -----------------------------------------------------------------------------------------------
def _mask_pairs(text: str) -> str:
    out: list[str] = []
    pos = 0
    examined = 0  # words inside a key already examined are not examined again (linear time)
    for word in _SECRET_WORD.finditer(text):
        if word.start() < max(pos, examined):
            continue
        before = _NAME_TAIL.search(text, max(0, word.start() - 64), word.start())
        key_from = before.start() if before else word.start()
        name_run = _NAME_RUN.match(text, word.end())
        key_to = name_run.end() if name_run else word.end()  # {0,64}: it always matches
        examined = key_to
        if text[key_from:key_to].lower() in _NOT_SECRET_KEYS:
            continue
        separator = _SEPARATOR.match(text, key_to)
        if separator is None:
            continue
        value_from = separator.end()
        quote_char = text[value_from] if value_from < len(text) and text[value_from] in "\"'" else ""
        escaped = not quote_char and text.startswith(('\\"', "\\'"), value_from)  # a quoted value inside JSON text
        if quote_char:
            value_from += 1
            value_to = _closing_quote(text, value_from, quote_char)
        elif escaped:
            value_from += 2
            value_to = _closing_escaped_quote(text, value_from, text[value_from - 1])
        else:
            if _JSON_LITERAL.match(text, value_from):
                continue
            if separator.group(1) == ":" and _NUMBER.match(text, value_from):
                continue  # a count in JSON or YAML ("tokens": 3), not a secret
            stop = _UNQUOTED_END.search(text, value_from)
            value_to = stop.start() if stop else len(text)
        if value_to == value_from or text[value_from:value_to] == MASK:
            continue
        out.append(text[pos:value_from])
        out.append(MASK)
        pos = value_to
    out.append(text[pos:])
    return "".join(out)


def _closing_quote(text: str, start: int, quote_char: str) -> int:
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote_char:
            return i
        i += 1
    return len(text)


def _closing_escaped_quote(text: str, start: int, quote_char: str) -> int:
    """In JSON text, a value quoted with escaped quotes (`\\"…\\"`) ends at a quote preceded by exactly one backslash
    (three are a quote escaped inside the value)."""
    i = text.find(quote_char, start)
    while i >= 0:
        backslashes = 0
        while i - backslashes - 1 >= start and text[i - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes == 1:
            return i - 1
        i = text.find(quote_char, i + 1)
    return len(text)


def mask(text: str) -> str:
    """`text` with every credential it may hold replaced by '********'."""
    if not text:
        return text
    if "://" in text:
        text = _mask_urls(text)
    text = _mask_pairs(text)
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return text


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() not in _NOT_SECRET_KEYS and bool(_KEY.match(key))


def mask_data(value: Any) -> Any:
    """Plain data (dicts, lists, strings, numbers) with every string masked and the value of every key that names a
    secret hidden whole (None, booleans, numbers, lists and objects under such a key are kept: a count of tokens is
    no secret)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: (MASK if is_secret_key(k) and isinstance(v, str) and v else mask_data(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v) for v in value]
    return value
