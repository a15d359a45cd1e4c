"""Terminal rendering of `aladia bench` results."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from aladia_etl.cli.render import out


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def print_bench(result: dict[str, Any]) -> None:
    fill = result.get("fill", {})
    out.print(
        f"[bold]Fill[/bold]: {_n(fill.get('changes'))} changes ({_n(fill.get('topic_records'))} Kafka records)"
        f" made at {_n(fill.get('simulate_rate'))} changes/s"
    )
    table = Table(title="Drain", show_header=True, header_style="bold", title_justify="left")
    for col in ("contender", "records", "seconds", "events/s", "wall incl. start (s)", "peak RSS (MiB)", "exact"):
        table.add_column(col)
    rows = [
        (f"{name} (JSON with schemas)" if name != "jdbc_sink" else "Debezium JDBC sink (same topics)", d)
        for name, d in result.get("drain", {}).items()
    ]
    rows += [(f"{name} (pipeline's schemaless JSON)", d) for name, d in result.get("drain_default_format", {}).items()]
    for name, d in rows:
        table.add_row(
            name,
            _n(d.get("records")),
            _n(d.get("seconds"), 2),
            _n(d.get("events_per_s")),
            _n(d.get("wall_s_including_start"), 1),
            _n(d.get("peak_rss_mib")),
            _n(d.get("warehouse_equals_source", "–")),
        )
    native = result.get("native")
    if native:
        table.add_row(
            "native replication",
            _n(native["changes"]),
            _n(native["seconds"], 2),
            _n(native["rows_per_s"]) + " rows/s",
            "–",
            "–",
            _n(native["target_matches_source"]),
        )
    out.print(table)
    fresh = result.get("freshness", {})
    if fresh:
        ft = Table(
            title="Freshness (source commit → warehouse row)",
            show_header=True,
            header_style="bold",
            title_justify="left",
        )
        for col in ("engine", "rate target", "achieved", "rows", "p50 s", "p95 s", "p99 s", "max s"):
            ft.add_column(col)
        for engine, f in fresh.items():
            if not f.get("valid", True):
                ft.add_row(
                    engine,
                    _n(f["rate_target"]),
                    _n(f["rate_achieved"]),
                    _n(f["rows"]),
                    "invalid: the generator missed its rate by more than 5 %",
                    "",
                    "",
                    "",
                )
                continue
            ft.add_row(
                engine,
                _n(f["rate_target"]),
                _n(f["rate_achieved"]),
                _n(f["rows"]),
                _n(f["p50_s"], 3),
                _n(f["p95_s"], 3),
                _n(f["p99_s"], 3),
                _n(f["max_s"], 3),
            )
        out.print(ft)
        _stages(fresh)
    for engine, s in result.get("startup", {}).items():
        out.print(
            f"start-up {engine}: first batch applied {_n(s['start_to_first_batch_s'], 1)} s after the stream started;"
            f" the command took {_n(s['command_to_exit_s'], 1)} s to start, apply one batch and stop"
        )
    capture = result.get("capture")
    searches = ([("Debezium capture alone", capture)] if capture else []) + [
        (engine, s) for engine, s in result.get("sustained", {}).items()
    ]
    for name, s in searches:
        limited = " (the generator could not go faster)" if s.get("generator_limited") else ""
        out.print(f"sustained {name}: highest rate with bounded lag {_n(s['highest_bounded_rate'])} changes/s{limited}")
    matrix = result.get("drain_matrix")
    if matrix:
        mt = Table(title="Drain by partitions and workers", show_header=True, header_style="bold", title_justify="left")
        for col in ("engine", "where", "partitions", "events/s", "first batch after (s)", "exact"):
            mt.add_column(col)
        for m in matrix:
            mt.add_row(
                m["engine"],
                m["where"],
                str(m["partitions"]),
                _n(m.get("events_per_s")),
                _n(m.get("start_to_first_batch_s"), 1),
                _n(m.get("warehouse_equals_source")),
            )
        out.print(mt)
    if result.get("ratios"):
        out.print("ratios: " + ", ".join(f"{k} {_n(v, 2)}" for k, v in result["ratios"].items()))
    m = result.get("machine", {})
    out.print(
        f"machine: {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('cpu')}, Python {m.get('python')},"
        f" {m.get('java')}, Spark {m.get('spark')}, Beam {m.get('beam')}, Kafka {m.get('kafka')}, "
        f"Debezium {m.get('debezium')}"
    )


STAGE_NAMES = {
    "to_batch_s": "commit → batch",
    "debezium_s": "  of which commit → Kafka",
    "staging_s": "batch → apply",
    "apply_s": "apply → row",
}
STAGES_CAPTION = (
    "commit → batch: Debezium, Kafka and the engine's wait (trigger, pane); batch → apply: reading, converting and "
    "staging the batch (Beam: from its pane's first chunk's staging, the pane's wait included); apply → row: the "
    "warehouse transaction up to the row's merge. Their means add up to the total's; commit → Kafka (Debezium, from "
    "the records' Kafka timestamps) is part of commit → batch."
)


def _stages(fresh: dict) -> None:
    """Where each engine's freshness went, stage by stage (their means add up to the total's)."""
    table = Table(
        title="Where the freshness goes",
        caption=STAGES_CAPTION,
        show_header=True,
        header_style="bold",
        title_justify="left",
        caption_justify="left",
    )
    for col in ("engine", "stage", "p50 s", "p99 s", "mean s"):
        table.add_column(col)
    for engine, f in fresh.items():
        found = f.get("stages") or {}
        for name in [n for n in STAGE_NAMES if n in found] + [n for n in found if n not in STAGE_NAMES]:
            s = found[name]
            table.add_row(engine, STAGE_NAMES.get(name, name), _n(s["p50_s"], 3), _n(s["p99_s"], 3), _n(s["mean_s"], 3))
    if table.row_count:
        out.print(table)
