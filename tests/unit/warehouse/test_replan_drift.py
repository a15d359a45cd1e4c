"""What a running stream's re-plan covers when the records of one batch show more than one table shape."""

from __future__ import annotations

import pytest

from aladia_etl.core.errors import ConfigError, SchemaDrift
from aladia_etl.warehouse.evolution import drift_to_plan

ITEMS, LINES = "mirror.s__items", "mirror.s__lines"


def _drift(added=(), missing=(), misfit=(), sink=ITEMS):
    change = {"added": list(added), "missing": list(missing), **({"misfit": list(misfit)} if misfit else {})}
    return SchemaDrift({sink: change})


def test_a_batch_read_again_is_planned_for_every_shape_it_showed():
    last: list = []
    # a replay from before a column was dropped (records carry it) and before another was added (records lack it)
    assert drift_to_plan(last, _drift(added=["qty"]), 0) == {ITEMS: {"added": ["qty"], "missing": []}}
    assert last == [{ITEMS: {"added": ["qty"], "missing": []}}, 0]
    # the re-plan covered qty; the same batch now shows the other shape: both are planned, not the last alone
    both = {ITEMS: {"added": ["qty"], "missing": ["points"]}}
    assert drift_to_plan(last, _drift(missing=["points"]), 0) == both
    assert last == [both, 0]
    # another table's shape joins, each table's own fields kept apart
    three = {**both, LINES: {"added": ["note"], "missing": []}}
    assert drift_to_plan(last, _drift(added=["note"], sink=LINES), 0) == three


def test_nothing_new_since_the_last_replan_is_one_line_not_a_loop():
    last: list = []
    drift_to_plan(last, _drift(added=["qty"]), 3)
    drift_to_plan(last, _drift(missing=["points"]), 3)
    for again in (_drift(added=["qty"]), _drift(missing=["points"]), _drift(added=["qty"], missing=["points"])):
        with pytest.raises(ConfigError, match="again after the stream re-planned"):
            drift_to_plan(list(last), again, 3)


def test_a_batch_applied_since_starts_over_from_the_new_drift():
    last: list = []
    drift_to_plan(last, _drift(added=["qty"]), 3)
    assert drift_to_plan(last, _drift(added=["qty"]), 4) == {ITEMS: {"added": ["qty"], "missing": []}}
    assert last == [{ITEMS: {"added": ["qty"], "missing": []}}, 4]
    assert drift_to_plan(last, _drift(missing=["points"]), 5) == {ITEMS: {"added": [], "missing": ["points"]}}
    assert last == [{ITEMS: {"added": [], "missing": ["points"]}}, 5]


def test_a_misfit_is_planned_once_not_carried_to_the_next_replan():
    """The re-plan of a misfit widened the column (or marked a value the record's own fault): the next re-plan of
    the same batch must not mark the widened column again, whose next widening would become dead letters."""
    last: list = []
    assert drift_to_plan(last, _drift(misfit=["code"]), 2) == {ITEMS: {"added": [], "missing": [], "misfit": ["code"]}}
    assert drift_to_plan(last, _drift(added=["qty"]), 2) == {ITEMS: {"added": ["qty"], "missing": []}}
    # the value still misfits (its own fault, the catalog unchanged): planned with what the batch showed before
    assert drift_to_plan(last, _drift(misfit=["code"]), 2) == {
        ITEMS: {"added": ["qty"], "missing": [], "misfit": ["code"]}
    }
    with pytest.raises(ConfigError):
        drift_to_plan(last, _drift(added=["qty"], misfit=["code"]), 2)
