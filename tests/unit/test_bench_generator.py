"""The generator benchmark's pure parts: pgbench's scripts have the changes they are counted for, and its report
is read per script."""

from __future__ import annotations

import pytest

from aladia_etl.flows.bench.generator import Script, large_script, pgbench_changes_per_s, small_scripts


def statements(script: Script) -> list[str]:
    return [line for line in script.text.splitlines() if line and not line.startswith("\\set")]


@pytest.mark.parametrize("script", [*small_scripts(), large_script()], ids=lambda s: s.name)
def test_each_script_is_one_transaction_of_its_counted_changes(script):
    lines = statements(script)
    assert lines[0] == "BEGIN;" and lines[-1] == "COMMIT;"
    assert sum(line.startswith(("INSERT", "UPDATE", "DELETE")) for line in lines) == script.changes


def test_the_small_mix_averages_what_one_operation_per_transaction_makes():
    scripts = small_scripts()
    mean = sum(s.changes * s.weight for s in scripts) / sum(s.weight for s in scripts)
    assert 2.0 <= mean <= 2.5
    assert large_script().changes == 20 and len(statements(large_script())) == 22


MULTI = """\
tps = 1000.0 (without initial connection time)
SQL script 1: /tmp/x/new_order.sql
 - weight: 55 (targets 55.0% of total)
 - 5500 transactions (55.0% of total, tps = 550.000000)
 - number of failed transactions: 0 (0.000%)
SQL script 2: /tmp/x/status.sql
 - weight: 30 (targets 30.0% of total)
 - 3000 transactions (30.0% of total, tps = 300.000000)
SQL script 3: /tmp/x/correction.sql
 - weight: 15 (targets 15.0% of total)
 - 1500 transactions (15.0% of total, tps = 150.000000)
"""


def test_changes_per_second_from_pgbench_reports():
    assert pgbench_changes_per_s(MULTI, small_scripts()) == 550 * 3 + 300 * 1 + 150 * 2
    single = "number of transactions actually processed: 100\ntps = 51.5 (without initial connection time)\n"
    assert pgbench_changes_per_s(single, [large_script()]) == 51.5 * 20
    with pytest.raises(ValueError, match="pgbench reported 0 of 3 scripts"):
        pgbench_changes_per_s("tps = 1.0 (without initial connection time)\n", small_scripts())
    with pytest.raises(ValueError, match="no tps in pgbench's output"):
        pgbench_changes_per_s("nothing", [large_script()])
