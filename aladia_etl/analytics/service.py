"""`aladia report`: build the requested sections and write them in the requested format."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aladia_etl.analytics import api, model
from aladia_etl.analytics.export import plain, to_csv
from aladia_etl.core.errors import UsageError
from aladia_etl.core.files import atomic_write
from aladia_etl.core.settings import Settings
from aladia_etl.core.sql import scalar

if TYPE_CHECKING:
    from psycopg import Connection

FORMATS = ("table", "json", "csv", "html")
MAX_TOP = 10_000
MAX_MINUTES = 7 * 24 * 60


def parse_sections(names: list[str]) -> tuple[str, ...]:
    if not names:
        return api.SECTIONS
    unknown = [n for n in names if n not in api.SECTIONS]
    if unknown:
        raise UsageError(f"unknown report section(s): {', '.join(unknown)}", f"choose from {', '.join(api.SECTIONS)}")
    return tuple(n for n in api.SECTIONS if n in names)


def parse_since(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since: '{text}' is not a date", "use YYYY-MM-DD, e.g. --since 2026-11-01") from None


def kafka_lag(settings: Settings, conn: Connection) -> int | None:
    """Records on the CDC topics not yet applied by the most advanced engine; None when Kafka is unreachable."""

    from aladia_etl.bus.offsets import lag, read_offsets
    from aladia_etl.bus.topics import cdc_topics

    applied: dict[tuple[str, int], int] = {}
    if scalar(conn, "SELECT to_regclass('pipeline_offsets')") is not None:
        for topic, partition, offset in conn.execute(
            "SELECT topic, partition, max(next_offset) FROM pipeline_offsets GROUP BY 1, 2"
        ):
            applied[(topic, partition)] = offset
    try:
        offsets = read_offsets(settings, cdc_topics(settings), timeout_ms=2000)
    except Exception:  # noqa: BLE001 - the report does not need Kafka: whatever fails, freshness shows no lag figure
        return None
    return lag(offsets, applied)


def require_schema(settings: Settings, conn: Connection) -> None:
    """The report views exist in the warehouse (a stream has created them), else the error that says what to run."""
    if scalar(conn, "SELECT to_regclass('v_order')") is None:
        from aladia_etl.core.errors import AladiaError

        raise AladiaError(
            f"the warehouse database {settings.postgres.warehouse_db} has no aladia schema yet",
            "run 'aladia stream' first (or 'aladia demo')",
        )


def build(
    settings: Settings, sections: tuple[str, ...], top: int, minutes: int, since: date | None, threshold: float
) -> dict[str, Any]:
    if not (1 <= top <= MAX_TOP and 1 <= minutes <= MAX_MINUTES and 0 < threshold < float("inf")):
        raise UsageError(
            f"--top must be 1..{MAX_TOP}, --minutes 1..{MAX_MINUTES} and --threshold a positive number",
            "e.g. --top 10 --minutes 60 --threshold 3.5",
        )
    from aladia_etl.warehouse.loader import read_snapshot

    with api.connect(settings) as conn, read_snapshot(conn):
        require_schema(settings, conn)
        lag = kafka_lag(settings, conn) if "realtime" in sections else None
        return api.build_report(conn, sections, top, minutes, since, threshold, lag)


def write_html(report: dict[str, Any], out: Path | None) -> Path:
    from aladia_etl.analytics.html import render

    target = (out or Path("aladia-report.html")).absolute()
    if target.is_dir():
        target = target / "aladia-report.html"
    atomic_write(target, render(report))
    return target


def write_json(report: dict[str, Any], out: Path | None) -> str | Path:
    text = json.dumps(plain(report), indent=2)
    if out is None:
        return text
    atomic_write(out.absolute(), text + "\n")
    return out.absolute()


def write_csv(report: dict[str, Any], out: Path | None) -> str | list[Path]:
    named = {table.name: table for section in model.sections(report) for table in section.tables}
    if out is None:
        if len(named) != 1:
            raise UsageError(
                f"--format csv gives {len(named)} tables ({', '.join(named)}); stdout takes one",
                "pass --out DIR for one CSV file per table, or ask for one section "
                "(e.g. 'aladia report customers --format csv')",
            )
        return to_csv(next(iter(named.values())))
    directory = out.absolute()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--out {out} is a file", "give a directory for --format csv (one file per table)")
    written = []
    for name, table in named.items():
        target = directory / f"{name}.csv"
        atomic_write(target, to_csv(table))
        written.append(target)
    return written
