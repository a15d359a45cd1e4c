"""The schema history on the real warehouse: what streams record is what `aladia schema history` lists (oldest
first) and what the dashboard shows (`figures.schema_changes`, newest first, the newest ten)."""

from __future__ import annotations

from aladia_etl.warehouse import figures, schema_history


def test_recorded_changes_are_listed_oldest_first_and_shown_newest_first(scratch_warehouse):
    _settings, conn = scratch_warehouse
    assert figures.schema_changes(conn) == []
    for n in range(12):
        schema_history.record(
            conn,
            "spark",
            "default",
            [{"table": f"public.t{n}", "kind": "add_column", "column": f"c{n}", "outcome": "evolve"}],
        )
    listed = schema_history.read(conn, tables=["public.t3", "public.t11"])
    assert [(r.table, r.column, r.detail) for r in listed] == [("public.t3", "c3", None), ("public.t11", "c11", None)]
    shown = figures.schema_changes(conn)
    assert [c["table"] for c in shown] == [f"public.t{n}" for n in range(11, 1, -1)]
    assert shown[0]["engine"] == "spark" and shown[0]["outcome"] == "evolve" and shown[0]["at"]
