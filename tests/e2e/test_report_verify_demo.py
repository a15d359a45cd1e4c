"""`aladia report` in every format on the streamed warehouse, the HTML report in a real headless browser,
`aladia verify` catching injected differences, and `aladia demo` end to end."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest

from aladia_etl.core.errors import ExitCode
from tests.e2e.helpers import assert_exact, simulate, stream, verify, warehouse
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def streamed(pipeline, stack_env):
    simulate(stack_env, 2000, "--seed", "808")
    stream(stack_env, "spark", "--until-idle")
    assert_exact(stack_env)
    return stack_env


def test_report_formats(streamed, tmp_path):
    as_json = run_cli(["report", "--format", "json", "--top", "5"], streamed)
    assert as_json.code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert list(data["sections"]) == ["summary", "customers", "products", "realtime", "anomalies", "insights"]
    assert len(data["sections"]["customers"]) == 5
    assert data["sections"]["summary"]["orders"] > 0

    table = run_cli(["report", "summary", "customers"], streamed)
    assert table.code == 0 and "Top customers" in table.stdout and "Summary" in table.stdout

    single = run_cli(["report", "customers", "--format", "csv", "--top", "3"], streamed)
    assert single.code == 0
    lines = single.stdout.strip().splitlines()
    assert lines[0].startswith("customer_id,name,email,orders,revenue") and len(lines) == 4

    out_dir = tmp_path / "csv"
    many = run_cli(["report", "--format", "csv", "--out", str(out_dir)], streamed)
    assert many.code == 0, many.output
    assert {p.name for p in out_dir.iterdir()} >= {
        "summary.csv",
        "customers.csv",
        "categories.csv",
        "realtime_per_minute.csv",
        "insights.csv",
    }

    html = run_cli(["report", "--format", "html", "--out", str(tmp_path / "r.html")], streamed)
    assert html.code == 0 and (tmp_path / "r.html").read_text().count('class="chart"') >= 4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "nonsense"], "unknown report section"),
        (["report", "--since", "yesterday"], "--since"),
        (["report", "--format", "pdf"], "--format"),
        (["report", "--format", "csv"], "--out DIR"),
        (["report", "--top", "0"], "--top"),
    ],
)
def test_report_bad_input(streamed, args, needle, tmp_path):
    result = run_cli(args, streamed, cwd=tmp_path)
    assert result.code == ExitCode.USAGE, result.output
    assert needle in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_notebook_executes_every_cell_with_its_plots_on_the_warehouse(streamed, tmp_path):
    """`aladia notebook --bench` on the streamed warehouse: every code cell ran without an error, the plots are PNGs,
    the tables show what `aladia report` reports, and no password reaches the file."""
    out = tmp_path / "analysis.ipynb"
    bench = Path(__file__).resolve().parents[2] / "docs" / "bench-2026-11-26.json"
    # Secrets the kernel receives (its health section's Connect probes send them: Connect without authentication
    # ignores basic auth) and the masking must remove from whatever a cell shows; and the health API's token, which
    # the kernel never gets.
    password = "nb-e2e-connect-Pw-5f1c0a"
    token = "nb-e2e-token-5f1c0a"
    env = {
        **streamed,
        "ALADIA_CONNECT__USERNAME": "nb-e2e-user",
        "ALADIA_CONNECT__PASSWORD": password,
        "ALADIA_SERVE__TOKEN": token,
    }
    result = run_cli(["notebook", "--out", str(out), "--bench", str(bench), "--top", "3"], env, timeout=600)
    assert result.code == 0, result.output[-3000:]
    notebook = json.loads(out.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(cell["execution_count"] for cell in code), "a code cell did not run"
    outputs = [o for cell in code for o in cell["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    images = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # revenue, customers, products, anomalies, and the bench's two sections
    assert all(base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n" for png in images)
    text = json.dumps(notebook)
    top = json.loads(run_cli(["report", "customers", "--format", "json", "--top", "3"], streamed).stdout)
    for customer in top["sections"]["customers"]:
        assert customer["name"] in text  # the notebook's table holds the report's top customers
    assert "spark" in text and "beam" in text  # the bench's engines
    assert "Debezium PostgreSQL connector plugin loaded" in text  # the kernel's Connect probe ran, with basic auth
    for secret in (password, token):
        assert secret not in out.read_text() and secret not in result.output
    assert "nb-e2e-connect-Pw" not in out.read_text()  # nor a part of it (a table cuts long values)
    assert not list(tmp_path.glob("*.failed.ipynb"))


def test_html_report_renders_in_headless_chromium(streamed, tmp_path):
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    assert run_cli(["report", "--format", "html", "--out", str(page)], streamed).code == 0
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert Path(chromium).exists() and Path(driver_path).exists(), "install chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,2000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        driver.get(page.as_uri())
        charts = {c.get_attribute("data-chart") for c in driver.find_elements(By.CSS_SELECTOR, "svg.chart")}
        assert charts == {"daily-revenue", "top-customers", "categories", "revenue-per-minute"}
        bars = driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
        assert len(bars) > 10
        assert all(b.size["width"] > 0 for b in bars[:5])
        png = driver.get_screenshot_as_png()
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    finally:
        driver.quit()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # not a blank page
    assert errors == []


def test_verify_detects_injected_differences(streamed, pipeline):
    assert verify(streamed)["ok"]
    with warehouse(pipeline) as conn:
        order_id, total = conn.execute(
            "SELECT order_id, total_amount FROM v_order ORDER BY order_id LIMIT 1"
        ).fetchone()
        customer_id = conn.execute("SELECT customer_id FROM v_customer ORDER BY customer_id LIMIT 1").fetchone()[0]
        day, orders = conn.execute("SELECT day, orders FROM daily_sales_summary ORDER BY day LIMIT 1").fetchone()
        try:
            conn.execute("UPDATE fact_order SET total_amount = total_amount + 1 WHERE order_id = %s", (order_id,))
            assert conn.execute("DELETE FROM dim_customer WHERE customer_id = %s", (customer_id,)).rowcount == 1
            conn.execute("UPDATE daily_sales_summary SET orders = orders + 5 WHERE day = %s", (day,))
            report = verify(streamed)
            assert not report["ok"]
            tables = {t["table"]: t for t in report["tables"]}
            assert tables["orders"]["different"] == 1 and tables["orders"]["samples"]["different"] == [order_id]
            assert tables["customers"]["missing"] == 1 and tables["customers"]["samples"]["missing"] == [customer_id]
            assert report["daily_summary"]["different"] == [day.isoformat()]
            human = run_cli(["verify"], streamed)
            assert human.code == ExitCode.VERIFY_FAILED and "DIFF" in human.stdout
            # the summary edited apart from its facts is rebuilt from them; the missing customer is still missing
            conn.execute("UPDATE fact_order SET total_amount = %s WHERE order_id = %s", (total, order_id))
            rebuilt = run_cli(["verify", "--rebuild-summary", "--json"], streamed)
            assert rebuilt.code == ExitCode.VERIFY_FAILED and "daily summary rebuilt from the facts" in rebuilt.stderr
            report = json.loads(rebuilt.stdout)
            assert report["daily_summary"]["ok"] and report["daily_summary"]["days"] > 0
            assert {t["table"]: t["missing"] for t in report["tables"]}["customers"] == 1
            assert conn.execute("SELECT orders FROM daily_sales_summary WHERE day = %s", (day,)).fetchone()[0] == orders
        finally:
            conn.execute("UPDATE fact_order SET total_amount = %s WHERE order_id = %s", (total, order_id))
            conn.execute("UPDATE daily_sales_summary SET orders = %s WHERE day = %s", (orders, day))
    # The deleted customer comes back when its events are replayed from the beginning.
    stream(streamed, "spark", "--until-idle", "--from-beginning")
    assert_exact(streamed)


def test_demo_end_to_end(pipeline, stack_env, tmp_path):
    html = tmp_path / "demo.html"
    result = run_cli(
        ["demo", "--duration", "10", "--rate", "100", "--html", str(html), "--json"], stack_env, timeout=900
    )
    assert result.code == 0, result.output[-4000:]
    data = json.loads(result.stdout)
    assert data["verify"]["ok"] is True
    assert data["simulated"]["changes"] >= 800
    assert data["stream"]["lag"] == 0 and data["stream"]["records"] >= data["simulated"]["changes"]
    assert html.exists() and 'data-chart="revenue-per-minute"' in html.read_text()
    for step in ("step 1/7", "step 4/7", "step 7/7"):
        assert step in result.stderr
    assert "aladia down" in result.stderr
