"""The notebook's bench sections: the JSON `aladia bench --out FILE` writes, checked before anything runs, and the
rows its engine comparison and scalability figures plot (the same contenders as `aladia bench`'s table and chart).

Every part of a bench result is optional (`--peers ''`, `--no-matrix`, `--sustained-seconds 0` leave some out);
what is present must have the shape `flows.bench.run` writes, or the file is refused with one line."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from aladia_etl.core.errors import UsageError

# The parts of a result the notebook reads, and the container each one is.
PARTS: dict[str, type] = {
    "drain": dict,
    "drain_default_format": dict,
    "native": dict,
    "freshness": dict,
    "startup": dict,
    "drain_matrix": list,
    "capture": dict,
    "sustained": dict,
    "machine": dict,
}
# At least one of these must hold figures: otherwise the file is no bench result.
FIGURES = ("drain", "drain_default_format", "native", "freshness", "drain_matrix", "sustained", "capture")
NUMBERS = frozenset(
    {
        "records",
        "batches",
        "seconds",
        "events_per_s",
        "rows_per_s",
        "wall_s_including_start",
        "start_to_first_batch_s",
        "command_to_exit_s",
        "peak_rss_mib",
        "rate",
        "rate_target",
        "rate_achieved",
        "achieved",
        "max_lag_second_half",
        "highest_bounded_rate",
        "partitions",
        "workers",
        "p50_s",
        "p95_s",
        "p99_s",
        "max_s",
        "mean_s",
    }
)
FLAGS = frozenset({"valid", "passed", "generator_limited", "warehouse_equals_source", "target_matches_source"})
FIX = "give the JSON file 'aladia bench --out FILE' wrote"
MAX_BYTES = 50 << 20  # a bench result is a few kilobytes
MAX_DEPTH = 32  # and nests a few levels


def load_bench(path: Path, option: str = "--bench") -> dict[str, Any]:
    """The bench result in `path`; a one-line UsageError when the file is missing, not a regular file, larger than
    MAX_BYTES, unreadable, not JSON (NaN, Infinity and numbers out of a float's range are no JSON numbers), nested
    deeper than MAX_DEPTH or not the shape of a bench result."""
    text = _read(Path(path), option)
    try:
        result = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_finite_int)
    except _NotANumber as exc:
        raise UsageError(f"{option} {path} is not JSON ({exc})", FIX) from None
    except RecursionError:
        raise UsageError(f"{option} {path} is not an 'aladia bench' result: nested too deeply", FIX) from None
    except ValueError as exc:  # JSONDecodeError, and numbers too long to read
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "unreadable value"
        raise UsageError(f"{option} {path} is not JSON ({reason}{where})", FIX) from None
    if _depth(result) > MAX_DEPTH:
        raise UsageError(f"{option} {path} is not an 'aladia bench' result: nested deeper than {MAX_DEPTH} levels", FIX)
    problem = shape_problem(result)
    if problem:
        raise UsageError(f"{option} {path} is not an 'aladia bench' result: {problem}", FIX)
    return result


def _read(path: Path, option: str) -> str:
    """The file's text: a regular file (not a directory, device, pipe or socket) of at most MAX_BYTES."""
    try:
        _check_kind(path, path.stat(), option)  # before opening: a pipe could wait for a writer, a device do anything
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            _check_kind(path, os.fstat(fh.fileno()), option)  # the file opened (not one replaced since)
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{option} {path}: no such file", FIX) from None
    except IsADirectoryError:
        raise UsageError(f"{option} {path} is a directory", FIX) from None
    except OSError as exc:
        raise UsageError(f"{option} {path} cannot be read ({exc.strerror or type(exc).__name__})", FIX) from None
    if len(data) > MAX_BYTES:  # it grew while read
        raise UsageError(f"{option} {path} is larger than {MAX_BYTES >> 20} MiB: no bench result", FIX)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path} cannot be read (it is not UTF-8 text)", FIX) from None


def _check_kind(path: Path, info: os.stat_result, option: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{option} {path} is a directory", FIX)
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{option} {path} is not a regular file ({_file_kind(info.st_mode)})", FIX)
    if info.st_size > MAX_BYTES:
        raise UsageError(f"{option} {path} is larger than {MAX_BYTES >> 20} MiB: no bench result", FIX)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "of an unknown kind"


class _NotANumber(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotANumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotANumber(f"the number {_short(text)} is out of range")
    return value


def _finite_int(text: str) -> int:
    try:
        value = int(text)
        float(value)
    except (ValueError, OverflowError):  # longer than the interpreter reads, or than a float holds
        raise _NotANumber(f"the number {_short(text)} is out of range") from None
    return value


def _short(text: str) -> str:
    return text if len(text) <= 20 else f"{text[:12]}… ({len(text)} characters)"


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (iteratively: any depth)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def shape_problem(result: Any) -> str | None:
    """What makes `result` unusable as a bench result (None: nothing)."""
    if not isinstance(result, dict):
        return f"it holds a JSON {_kind(result)}, not an object"
    for name, kind in PARTS.items():
        if name in result and result[name] is not None and not isinstance(result[name], kind):
            return f"'{name}' is a JSON {_kind(result[name])}, not {'a list' if kind is list else 'an object'}"
    if not any(result.get(name) for name in FIGURES):
        return f"it has none of {', '.join(FIGURES)}"
    for name in PARTS:
        found = _value_problem(result.get(name), name)
        if found:
            return found
    return None


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _value_problem(value: Any, where: str) -> str | None:
    """The first figure of the wrong type under `where` (numbers must be numbers, flags true or false)."""
    if isinstance(value, dict):
        for key, item in value.items():
            label = f"{where}.{key}"
            if key in NUMBERS and item is not None and (isinstance(item, bool) or not isinstance(item, (int, float))):
                return f"'{label}' is a JSON {_kind(item)}, not a number"
            if key in FLAGS and item is not None and not isinstance(item, bool):
                return f"'{label}' is a JSON {_kind(item)}, not true or false"
            if key in ("engine", "where") and not isinstance(item, str):
                return f"'{label}' is a JSON {_kind(item)}, not a string"
            found = _value_problem(item, label)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if where.endswith(("drain_matrix", "steps")) and not isinstance(item, dict):
                return f"'{where}[{i}]' is a JSON {_kind(item)}, not an object"
            found = _value_problem(item, f"{where}[{i}]")
            if found:
                return found
    return None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _parts(result: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in (result.get(name) or {}).items() if isinstance(v, dict)}


def engine_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The engine comparison: every contender's drain of the same topics (events/s), the pipeline's own format too,
    and native logical replication (rows/s) — the contenders of `aladia bench`'s table."""
    rows = []
    for variant, suffix in (("drain", "JSON with schemas"), ("drain_default_format", "schemaless JSON")):
        for name, d in _parts(result, variant).items():
            label = "Debezium JDBC sink" if name == "jdbc_sink" else f"{name} ({suffix})"
            rows.append(
                {
                    "contender": label,
                    "events_per_s": _num(d.get("events_per_s")),
                    "seconds": _num(d.get("seconds")),
                    "wall_s_including_start": _num(d.get("wall_s_including_start")),
                    "start_to_first_batch_s": _num(d.get("start_to_first_batch_s")),
                    "peak_rss_mib": _num(d.get("peak_rss_mib")),
                }
            )
    native = result.get("native") or {}
    if _num(native.get("rows_per_s")) is not None:
        rows.append(
            {
                "contender": "native replication (rows/s)",
                "events_per_s": _num(native.get("rows_per_s")),
                "seconds": _num(native.get("seconds")),
                "wall_s_including_start": None,
                "start_to_first_batch_s": None,
                "peak_rss_mib": None,
            }
        )
    return [r for r in rows if r["events_per_s"] is not None]


def freshness_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Freshness percentiles (source commit → warehouse row, seconds) of the engines whose run is valid (the
    generator kept its rate)."""
    rows = []
    for engine, f in _parts(result, "freshness").items():
        if f.get("valid", True) is False:
            continue
        figures = {p: _num(f.get(p)) for p in ("p50_s", "p95_s", "p99_s", "max_s")}
        if any(v is not None for v in figures.values()):
            rows.append({"engine": engine, "rate": _num(f.get("rate_achieved")), **figures})
    return rows


def matrix_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Scalability: each engine's drain by where it ran (local cores, cluster workers) and topic partitions."""
    rows = []
    for m in result.get("drain_matrix") or []:
        if isinstance(m, dict) and _num(m.get("events_per_s")) is not None:
            rows.append(
                {
                    "engine": m.get("engine", "?"),
                    "where": m.get("where", "?"),
                    "partitions": m.get("partitions"),
                    "events_per_s": _num(m.get("events_per_s")),
                    "start_to_first_batch_s": _num(m.get("start_to_first_batch_s")),
                    "series": f"{m.get('engine', '?')}, {m.get('partitions')} partition(s)",
                }
            )
    return rows


def sustained_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Scalability under load: each rate step of the sustained searches (Debezium's capture alone, each engine):
    the rate aimed at, the rate achieved, the lag in the step's second half, whether it passed."""
    capture = result.get("capture")
    searches: list[tuple[str, dict[str, Any]]] = (
        [("Debezium capture alone", capture)] if isinstance(capture, dict) else []
    )
    searches += list(_parts(result, "sustained").items())
    rows = []
    for name, search in searches:
        for step in search.get("steps") or []:
            if isinstance(step, dict) and _num(step.get("rate")) is not None:
                rows.append(
                    {
                        "contender": name,
                        "rate": _num(step.get("rate")),
                        "achieved": _num(step.get("achieved")),
                        "max_lag_second_half": _num(step.get("max_lag_second_half")),
                        "passed": bool(step.get("passed")),
                        "valid": step.get("valid", True) is not False,
                        "highest_bounded_rate": _num(search.get("highest_bounded_rate")),
                    }
                )
    return rows


# The bench sections' code cells (run in the notebook's kernel, after its setup cell).
CODE = {
    "bench_engines": """\
from aladia_etl.flows.notebook import bench as bench_figures

bench = bench_figures.load_bench(Path(BENCH_FILE))
machine = bench.get("machine") or {}
display(Markdown(f"Run started {bench.get('started_at', '?')} on {machine.get('cores', '?')} cores, "
                 f"{machine.get('memory_gib', '?')} GiB ({machine.get('cpu', '?')})."))
engines = bench_figures.engine_rows(bench)
fresh = bench_figures.freshness_rows(bench)
display(pd.DataFrame(engines) if engines else Markdown("_No drain figures._"))
if fresh:
    display(pd.DataFrame(fresh))
panels = [p for p in ("drain", "freshness") if (engines if p == "drain" else fresh)]
if panels:
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "drain":
            ax.barh(range(len(engines)), [r["events_per_s"] for r in engines][::-1])
            ax.set_yticks(range(len(engines)), [r["contender"] for r in engines][::-1])
            ax.set_xlabel("events per second")
            ax.set_title("Drain throughput (higher is better)")
        else:
            width = 0.8 / 3
            for k, p in enumerate(("p50_s", "p95_s", "p99_s")):
                ax.bar([i + k * width for i in range(len(fresh))], [r[p] or 0 for r in fresh], width, label=p[:-2])
            ax.set_xticks([i + width for i in range(len(fresh))], [r["engine"] for r in fresh])
            ax.set_ylabel("seconds")
            ax.set_title("Freshness: source commit → warehouse row (lower is better)")
            ax.legend()
    fig.tight_layout()
    plt.show()
""",
    "bench_scalability": """\
matrix = bench_figures.matrix_rows(bench)
steps = bench_figures.sustained_rows(bench)
display(pd.DataFrame(matrix).drop(columns="series") if matrix else Markdown("_No drain matrix (--no-matrix)._"))
display(pd.DataFrame(steps) if steps else Markdown("_No sustained-rate search (--sustained-seconds 0)._"))
panels = [p for p in ("matrix", "sustained") if (matrix if p == "matrix" else steps)]
if panels:
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "matrix":
            places = list(dict.fromkeys(r["where"] for r in matrix))
            series = list(dict.fromkeys(r["series"] for r in matrix))
            width = 0.8 / len(series)
            for k, name in enumerate(series):
                rate = {r["where"]: r["events_per_s"] for r in matrix if r["series"] == name}
                ax.bar([i + k * width for i in range(len(places))], [rate.get(p, 0) for p in places], width, label=name)
            ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(places))], places, fontsize=8)
            ax.set_ylabel("events per second")
            ax.set_title("Drain by partitions and workers")
            ax.legend(fontsize=8)
        else:
            for name in dict.fromkeys(r["contender"] for r in steps):
                mine = [r for r in steps if r["contender"] == name]
                line, = ax.plot([r["rate"] for r in mine], [r["achieved"] or 0 for r in mine], marker="o", label=name)
                failed = [r for r in mine if not r["passed"]]
                ax.scatter([r["rate"] for r in failed], [r["achieved"] or 0 for r in failed], marker="x", s=80,
                           color=line.get_color(), zorder=3)
            top = max(r["rate"] for r in steps)
            ax.plot([0, top], [0, top], color="grey", linestyle=":", label="achieved = aimed")
            ax.set_xlabel("rate aimed at (changes/s)")
            ax.set_ylabel("rate achieved (changes/s)")
            ax.set_title("Sustained rate (x: lag not bounded)")
            ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
""",
}
