"""One error type for everything a user can fix, and the exit codes the CLI maps it to."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    UNAVAILABLE = 4
    CONFLICT = 5
    MISSING_DEPENDENCY = 6
    UNHEALTHY = 7
    VERIFY_FAILED = 8
    DATA_LOSS = 9
    INTERRUPTED = 130


class AladiaError(Exception):
    """An error the user can act on: what is wrong (reason) and what to do about it (fix)."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, reason: str, fix: str | None = None, *, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix
        # Extra lines (a log tail, a task trace) shown below the one-line message.
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason} — {self.fix}" if self.fix else self.reason


class ShapeChanged(Exception):
    """A mirrored record whose fields are not its table's compiled columns: the source table changed (or the
    record predates a change). Not a dead letter: the batch is not applied and the stream re-plans
    (`warehouse.evolution`)."""

    def __init__(
        self, sink: str, added: tuple[str, ...] = (), missing: tuple[str, ...] = (), misfit: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{sink}: fields added {list(added)}, missing {list(missing)}, misfit {list(misfit)}")
        self.sink, self.added, self.missing, self.misfit = sink, added, missing, misfit


class ConfigError(AladiaError):
    exit_code = ExitCode.CONFIG


class UsageError(AladiaError):
    exit_code = ExitCode.USAGE


class ServiceUnavailable(AladiaError):
    exit_code = ExitCode.UNAVAILABLE


class PortInUse(AladiaError):
    exit_code = ExitCode.CONFLICT


class InProgress(AladiaError):
    """Something of the same kind is still running (a snapshot Debezium has not finished)."""

    exit_code = ExitCode.CONFLICT


class MissingDependency(AladiaError):
    exit_code = ExitCode.MISSING_DEPENDENCY


class ComponentFailed(AladiaError):
    exit_code = ExitCode.UNHEALTHY


class VerificationFailed(AladiaError):
    exit_code = ExitCode.VERIFY_FAILED


class DataLoss(AladiaError):
    """Records the pipeline has not applied are gone from Kafka (retention, a recreated topic)."""

    exit_code = ExitCode.DATA_LOSS


class RecordError(ValueError):
    """A record's own fault (it cannot become a warehouse row): its fate is the dead-letter queue with `reason`.
    Never an AladiaError: it is not reported to the user, it is kept with the record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Misfit(RecordError):
    """A value that does not fit its column's type (out of range, too long, of another kind). In a model table it is
    a dead letter like any RecordError; in a mirrored table it may mean the source column changed type, so the
    mapper turns it into ShapeChanged and the stream checks the source catalog first (`warehouse.evolution`)."""


_QUOTE_CHARS = 60


def quote(value: object) -> str:
    """A value as a record's reason quotes it: short, and never itself a problem — strings by `repr` (which escapes
    NUL, lone surrogates and control characters) cut to a few dozen characters; lists and objects by their kind
    and size (their repr can be huge, or too deeply nested to print); integers too long to print by their size."""
    if isinstance(value, str):
        return repr(value) if len(value) <= _QUOTE_CHARS else f"{value[:_QUOTE_CHARS]!r}… ({len(value)} characters)"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"an object of {len(value)} key{'' if len(value) == 1 else 's'}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= _QUOTE_CHARS else f"{text[:_QUOTE_CHARS]}…"


class SchemaDrift(AladiaError):
    """A batch that carries records of a changed source table shape: nothing of it was applied; the stream re-plans
    its tables (`warehouse.evolution`) and reads the batch again.
    `drift`: sink → {"added": [...], "missing": [...], "misfit": [...]} (misfit: fields with a value their column's
    type cannot hold)."""

    exit_code = ExitCode.CONFIG

    def __init__(self, drift: dict[str, dict[str, list[str]]]) -> None:
        first = sorted(drift)[0]
        super().__init__(
            f"the columns of {first} changed in the source: {_describe(drift[first])}",
            "the stream re-plans the table by its pipeline file's schema_changes",
        )
        self.drift = drift


def _describe(change: dict[str, list[str]]) -> str:
    parts = [f"{k} {', '.join(v)}" for k, v in sorted(change.items()) if v]
    return "; ".join(parts) or "no detail"
