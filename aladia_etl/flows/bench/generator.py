"""How close the workload generator comes to the server: `aladia simulate` against pgbench with transactions of
the same shape and the same number of clients, in one run (absolute rates on a shared machine move from hour to
hour; only the ratios of one run mean something). On a scratch database of the configured server (created with
the source schema and seeded, dropped at the end; the source database is not touched):

(a) pgbench, small transactions sent a statement at a time: a new order with 2 items (3 changes, weight 55), a
    status change (1 change, weight 30), an item quantity and its order's total (2 changes, weight 15): 2.25
    changes per transaction, about what `simulate --txn-size 1` makes;
(b) `simulate --workers N --txn-size 1`;
(c) pgbench, transactions of 20 changes sent a statement at a time (5 new orders with 2 items each, 3 status
    changes, an item quantity, an order total: 22 round trips with BEGIN and COMMIT);
(d) `simulate --workers N --txn-size 20`.

Each phase runs for S seconds after a CHECKPOINT; pgbench's changes are its transactions times the changes of
each script. (a) and (c) use pgbench's default simple query protocol, every statement parsed and planned.
`simulate` sends a transaction as one simple-protocol query of EXECUTEs of statements it prepared once per
session, so two reference phases follow: (a') and (c'), the same scripts with `pgbench -M prepared` — a
statement-at-a-time client that does not parse or plan either (as the generator was before: psycopg prepares a
statement from its fifth execution on). The JSON has the rates, the ratios b/a (goal ≥ 0.6) and d/c (goal ≥ 2),
the reference ratios b/a' and d/c', and the client's CPU seconds in each phase.

    .venv/bin/python -m aladia_etl.flows.bench.generator [--workers 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aladia_etl.core.errors import MissingDependency
from aladia_etl.core.settings import Settings, load_settings
from aladia_etl.flows.bench.setup import drop_database, recreate_database

SCRATCH_DB = "aladia_bench_generator"
GOALS = {"b_over_a": 0.6, "d_over_c": 2.0}

_OWN_ORDER = "\\set o{n} 1 + :client_id + :clients * random(0, :orders / :clients - 1)\n"
_OWN_ITEM = "\\set i 1 + :client_id + :clients * random(0, :items / :clients - 1)\n"
_NEW_ORDER = (
    "INSERT INTO public.orders (customer_id, status, total_amount) VALUES (:c, 'pending', 20.00) RETURNING id AS oid"
    " \\gset\n"
    "INSERT INTO public.order_items (order_id, product_id, quantity, unit_price) VALUES (:oid, :p1, 1, 10.00);\n"
    "INSERT INTO public.order_items (order_id, product_id, quantity, unit_price) VALUES (:oid, :p2, 1, 10.00);\n"
)
_PICKS = "\\set c random(1, :customers)\n\\set p1 random(1, :products)\n\\set p2 random(1, :products)\n"
_STATUS = "UPDATE public.orders SET status = CASE status WHEN 'paid' THEN 'shipped' ELSE 'paid' END WHERE id = :o{n};\n"
_QUANTITY = "UPDATE public.order_items SET quantity = quantity % 5 + 1 WHERE id = :i;\n"
_TOTAL = "UPDATE public.orders SET total_amount = total_amount + 1 WHERE id = :o{n};\n"


@dataclass(frozen=True)
class Script:
    name: str
    text: str
    changes: int
    weight: int = 1


def small_scripts() -> list[Script]:
    """(a): 2.25 changes per transaction on average, BEGIN and COMMIT and every statement a round trip each."""
    return [
        Script("new_order", _PICKS + "BEGIN;\n" + _NEW_ORDER + "COMMIT;\n", 3, 55),
        Script("status", _OWN_ORDER.format(n=1) + "BEGIN;\n" + _STATUS.format(n=1) + "COMMIT;\n", 1, 30),
        Script(
            "correction",
            _OWN_ORDER.format(n=1) + _OWN_ITEM + "BEGIN;\n" + _QUANTITY + _TOTAL.format(n=1) + "COMMIT;\n",
            2,
            15,
        ),
    ]


def large_script() -> Script:
    """(c): 20 changes, 22 round trips."""
    sets = _PICKS + "".join(_OWN_ORDER.format(n=n) for n in range(1, 5)) + _OWN_ITEM
    body = _NEW_ORDER * 5 + "".join(_STATUS.format(n=n) for n in range(1, 4)) + _QUANTITY + _TOTAL.format(n=4)
    return Script("txn20", sets + "BEGIN;\n" + body + "COMMIT;\n", 20)


def pgbench_changes_per_s(output: str, scripts: list[Script]) -> float:
    """Changes per second from pgbench's report: each script's tps times its changes (one script: the total tps)."""
    if len(scripts) == 1:
        found = re.search(r"^tps = ([\d.]+) \(without initial connection time\)", output, re.M)
        if not found:
            raise ValueError(f"no tps in pgbench's output:\n{output[-2000:]}")
        return float(found.group(1)) * scripts[0].changes
    per_script = {
        int(n): float(tps)
        for n, tps in re.findall(
            r"^SQL script (\d+): .*\n - weight: .*\n - \d+ transactions \(.*tps = ([\d.]+)\)", output, re.M
        )
    }
    if len(per_script) != len(scripts):
        raise ValueError(f"pgbench reported {len(per_script)} of {len(scripts)} scripts:\n{output[-2000:]}")
    return sum(per_script[i + 1] * script.changes for i, script in enumerate(scripts))


def pgbench_binary(settings: Settings) -> str:
    from aladia_etl.stack.binaries import find_pg_bin_dir

    try:
        candidate = find_pg_bin_dir(settings.postgres.bin_dir) / "pgbench"
        if candidate.exists():
            return str(candidate)
    except MissingDependency:
        pass
    found = shutil.which("pgbench")
    if not found:
        raise MissingDependency("pgbench not found", "install it (e.g. 'apt-get install postgresql-contrib')")
    return found


def run_pgbench(
    settings: Settings, scripts: list[Script], clients: int, seconds: float, sizes: dict, protocol: str = "simple"
) -> dict:
    pg = settings.postgres
    with tempfile.TemporaryDirectory(prefix="aladia-pgbench-") as tmp:
        args = [pgbench_binary(settings), "-n", "-M", protocol, "-h", pg.host, "-p", str(pg.port), "-U", pg.user]
        args += ["-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(max(1, round(seconds)))]
        for name, value in {**sizes, "clients": clients}.items():
            args += ["-D", f"{name}={value}"]
        for script in scripts:
            path = Path(tmp) / f"{script.name}.sql"
            path.write_text(script.text)
            args += ["-f", f"{path}@{script.weight}"]
        env = {**os.environ, "PGPASSWORD": pg.password.get_secret_value()}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run([*args, SCRATCH_DB], env=env, capture_output=True, text=True, check=False)
        cpu = _cpu(before, resource.getrusage(resource.RUSAGE_CHILDREN))
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed ({result.returncode}):\n{result.stderr[-2000:]}")
    failed = re.search(r"^number of failed transactions: (\d+)", result.stdout, re.M)
    return {
        "changes_per_s": round(pgbench_changes_per_s(result.stdout, scripts)),
        "failed_transactions": int(failed.group(1)) if failed else None,
        "client_cpu_s": cpu,
    }


def run_simulate(settings: Settings, workers: int, txn_size: int, seconds: float) -> dict:
    from aladia_etl.source.workload import simulate

    before = resource.getrusage(resource.RUSAGE_SELF)
    stats = simulate(settings, duration=seconds, workers=workers, txn_size=txn_size, seed=17)
    return {
        "changes_per_s": round(stats.rate),
        "changes": stats.total,
        "transactions": stats.transactions,
        "changes_per_transaction": round(stats.total / max(1, stats.transactions), 2),
        "retries": stats.retries,
        "client_cpu_s": _cpu(before, resource.getrusage(resource.RUSAGE_SELF)),
    }


def _cpu(before, after) -> float:
    return round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2)


def prepare(settings: Settings) -> dict:
    """The scratch database: schema, seed; returns the row counts pgbench's scripts pick ids from."""
    from aladia_etl.source.bootstrap import connect, create_schema, seed
    from aladia_etl.source.seed import SeedSpec

    recreate_database(settings, SCRATCH_DB)
    with connect(settings, SCRATCH_DB) as conn:
        create_schema(conn, f"{SCRATCH_DB}_pub")
        seeded = seed(conn, SeedSpec())
        conn.commit()
    return {
        "customers": seeded["customers"],
        "products": seeded["products"],
        "orders": seeded["orders"],
        "items": seeded["order_items"],
    }


def checkpoint(settings: Settings) -> None:
    import psycopg

    from aladia_etl.source.bootstrap import connect

    try:
        with connect(settings, SCRATCH_DB, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error:
        pass  # not a superuser: the phases run without it


def measure(settings: Settings, workers: int, seconds: float) -> dict:
    scratch = settings.model_copy(update={"postgres": settings.postgres.model_copy(update={"source_db": SCRATCH_DB})})
    sizes = prepare(settings)
    try:
        phases = {}
        for key, run in (
            ("a_pgbench_small", lambda: run_pgbench(settings, small_scripts(), workers, seconds, sizes)),
            ("b_simulate_txn1", lambda: run_simulate(scratch, workers, 1, seconds)),
            ("c_pgbench_txn20", lambda: run_pgbench(settings, [large_script()], workers, seconds, sizes)),
            ("d_simulate_txn20", lambda: run_simulate(scratch, workers, 20, seconds)),
            ("a_prepared", lambda: run_pgbench(settings, small_scripts(), workers, seconds, sizes, "prepared")),
            ("c_prepared", lambda: run_pgbench(settings, [large_script()], workers, seconds, sizes, "prepared")),
        ):
            checkpoint(settings)
            phases[key] = run()
    finally:
        drop_database(settings, SCRATCH_DB)
    rates = {key: phase["changes_per_s"] for key, phase in phases.items()}

    def ratio(ours: str, theirs: str) -> float:
        return round(rates[ours] / rates[theirs], 2)

    ratios = {
        "b_over_a": ratio("b_simulate_txn1", "a_pgbench_small"),
        "d_over_c": ratio("d_simulate_txn20", "c_pgbench_txn20"),
    }
    return {
        "workers": workers,
        "seconds": seconds,
        "rates": rates,
        "ratios": ratios,
        "goals": GOALS,
        "goals_met": {key: ratios[key] >= goal for key, goal in GOALS.items()},
        "reference_ratios": {
            "b_over_a_prepared": ratio("b_simulate_txn1", "a_prepared"),
            "d_over_c_prepared": ratio("d_simulate_txn20", "c_prepared"),
        },
        "phases": phases,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="pgbench clients and simulate workers")
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64 or not 1 <= args.seconds <= 600:
        parser.error("--workers must be 1..64 and --seconds 1..600")
    print(json.dumps(measure(load_settings(), args.workers, args.seconds), indent=2))


if __name__ == "__main__":
    main()
