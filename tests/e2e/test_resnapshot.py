"""`aladia cdc snapshot`: one table read again through Debezium's incremental snapshot while a Spark stream runs and
the same rows are inserted, updated and deleted — the warehouse ends exact, the other tables untouched."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading

import psycopg

from tests.e2e.helpers import snapshot, wait_until, warehouse
from tests.helpers import REPO, env_for, run_cli

NEW_PRODUCTS = 3000  # about three snapshot windows of Debezium's default 1,024 rows


def _workload(conninfo: dict, ids: list[int], stop: threading.Event, counts: dict[str, int]) -> None:
    """Small transactions on the rows the snapshot reads: updates of existing rows, inserts, and deletes of rows
    inserted here (the demo's order items reference the seeded products)."""
    rng = random.Random(11)
    mine: list[int] = []
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        while not stop.is_set():
            for pid in rng.sample(ids, 5):
                conn.execute("UPDATE products SET price = price + 1, name = name || '+' WHERE id = %s", (pid,))
                counts["updated"] += 1
            row = conn.execute(
                "INSERT INTO products (name, category, price) VALUES ('during', 'Snapshot', 1) RETURNING id"
            ).fetchone()
            mine.append(row[0])
            counts["inserted"] += 1
            if len(mine) > 3 and rng.random() < 0.5:
                conn.execute("DELETE FROM products WHERE id = %s", (mine.pop(rng.randrange(len(mine))),))
                counts["deleted"] += 1
            stop.wait(0.02)


def _verified(settings) -> bool:
    from aladia_etl.core.errors import AladiaError
    from aladia_etl.warehouse.verify import verify

    try:
        return verify(settings).ok
    except AladiaError:  # the stream has not created the warehouse yet
        return False


def test_a_resnapshot_under_concurrent_changes_repairs_one_table_and_touches_no_other(pipeline, stack_env):
    env = env_for(stack_env)
    with psycopg.connect(**pipeline.postgres.conninfo(), autocommit=True) as src:
        ids = [
            r[0]
            for r in src.execute(
                "INSERT INTO products (name, category, price) SELECT 'bulk ' || g, 'Bulk', g %% 500 "
                "FROM generate_series(1, %s) g RETURNING id",
                (NEW_PRODUCTS,),
            )
        ]
        # deleted before the snapshot: kept soft-deleted in the warehouse, never brought back by it
        gone = ids[-40:]
        src.execute("DELETE FROM products WHERE id = ANY(%s)", (gone,))
        ids = ids[:-40]
    proc = subprocess.Popen(
        [sys.executable, "-m", "aladia_etl", "stream", "--engine", "spark", "--duration", "900", "--json"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop, counts = threading.Event(), {"updated": 0, "inserted": 0, "deleted": 0}
    # the workload changes rows the snapshot reads, not the damaged ones: those only the snapshot can repair
    worker = threading.Thread(target=_workload, args=(pipeline.postgres.conninfo(), ids[1000:], stop, counts))
    try:
        wait_until(lambda: _verified(pipeline), timeout=300, interval=1, what="the stream to catch up")
        before = snapshot(pipeline)
        damaged, lost = ids[100:400:3], ids[500:560]
        with warehouse(pipeline) as wh:  # what a re-snapshot is for: a warehouse table that went wrong
            wh.execute("UPDATE dim_product SET name = 'DAMAGED', price = 0 WHERE product_id = ANY(%s)", (damaged,))
            wh.execute("DELETE FROM dim_product WHERE product_id = ANY(%s)", (lost,))
        assert not _verified(pipeline)
        worker.start()
        wait_until(lambda: counts["updated"] >= 200, timeout=60, what="the workload to run")
        result = run_cli(["cdc", "snapshot", "products", "--wait", "--json"], stack_env, timeout=600)
        assert result.code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["progress"]["state"] == "completed"
        assert answer["progress"]["scans"] == {"public.products": "SUCCEEDED"}
        # every row the source held when each chunk was read, the rows inserted during the snapshot included
        assert answer["progress"]["rows"]["public.products"] >= NEW_PRODUCTS - 40
        seen = counts["updated"]
        wait_until(lambda: counts["updated"] >= seen + 100, timeout=60, what="changes after the snapshot")
        stop.set()
        worker.join(timeout=30)
        wait_until(lambda: _verified(pipeline), timeout=300, interval=1, what="the stream to apply everything")
        assert proc.poll() is None, proc.stderr.read()[-3000:]
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    assert json.loads(out)["dead_letters"] == 0  # a snapshot row is applied, never a dead letter
    assert min(counts.values()) > 0, counts
    after = snapshot(pipeline)
    for table in ("dim_customer", "fact_order", "fact_order_item", "daily_sales_summary"):
        assert after[table] == before[table], f"{table} changed"  # rows, positions and load times
    with warehouse(pipeline) as wh:
        resurrected = wh.execute(
            "SELECT count(*) FROM dim_product WHERE product_id = ANY(%s) AND NOT is_deleted", (gone,)
        ).fetchone()[0]
        repaired = wh.execute(
            "SELECT count(*) FROM dim_product WHERE product_id = ANY(%s) AND name <> 'DAMAGED' AND NOT is_deleted",
            (damaged + lost,),
        ).fetchone()[0]
    assert resurrected == 0
    assert repaired == len(damaged) + len(lost)
