"""The live dashboard in a real headless Chromium, against the app served by uvicorn in a thread with fake data:
the states and numbers it shows match GET /api/overview, its charts are drawn, and it follows a change without a
reload."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import requests

from aladia_etl.serve.app import create_app
from aladia_etl.serve.server import bind, make_server
from tests.unit.serve import fakes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def served(tmp_path):
    world = fakes.World()
    world.streams = [fakes.published_stream(), fakes.published_stream(engine="spark", state="stopped", alive=False)]
    stop = threading.Event()
    sock = bind("127.0.0.1", 0)
    server = make_server(create_app(fakes.observer(fakes.settings(tmp_path), world)), sock, stop)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield url, world
    stop.set()
    thread.join(10)
    sock.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver

    assert Path(CHROMIUM).exists() and Path(DRIVER).exists(), "install chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,1800",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def rendered(driver, more_than: int = 0, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = int(driver.find_element("tag name", "body").get_attribute("data-rendered") or 0)
        if count > more_than:
            return count
        time.sleep(0.1)
    raise AssertionError("the dashboard did not render")


def test_the_dashboard_shows_what_the_api_says_and_follows_changes(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, world = served
    browser.get(url + "/")
    rendered(browser)
    # Hold the page still while it is read (it re-renders every second, which would stale the elements held),
    # then compare with what the API answers for the same world.
    browser.execute_script("window.heldRender = render; render = function () {};")
    data = requests.get(url + "/api/overview", timeout=10).json()

    assert browser.find_element(By.ID, "overall").text == data["health"]["state"] == "ok"
    cards = {c.get_attribute("data-component"): c for c in browser.find_elements(By.CSS_SELECTOR, "[data-component]")}
    assert list(cards) == list(data["health"]["components"])
    for name, card in cards.items():
        assert card.find_element(By.CSS_SELECTOR, ".state").text == data["health"]["components"][name]["state"]

    assert browser.find_element(By.ID, "connector-state").text == "ok"
    assert browser.find_element(By.ID, "connector-tasks").get_attribute("data-value") == ",".join(
        data["connector"]["tasks"]
    )
    wal = browser.find_element(By.ID, "slot-wal")
    assert int(wal.get_attribute("data-value")) == data["slot"]["retained_wal_bytes"]
    assert wal.text == "120.6 KiB"
    assert int(browser.find_element(By.ID, "dl-dead").get_attribute("data-value")) == data["dead_letters"]["dead"]

    (row,) = browser.find_elements(By.CSS_SELECTOR, "#pipeline tr[data-pipeline='beam/default']")
    (pipeline,) = data["pipeline"]
    for field in (
        "batches",
        "records",
        "rows",
        "dead_letters",
        "last_duration_s",
        "freshness_p50_s",
        "freshness_p99_s",
    ):
        cell = row.find_element(By.CSS_SELECTOR, f"[data-field='{field}']")
        assert float(cell.get_attribute("data-value")) == pipeline[field], field
    assert row.find_element(By.CSS_SELECTOR, "[data-field='records']").text == "5,000"
    streams = {r.get_attribute("data-stream"): r for r in browser.find_elements(By.CSS_SELECTOR, "#streams tbody tr")}
    assert set(streams) == {"beam/default", "spark/default"}
    assert (
        streams["beam/default"].find_element(By.CSS_SELECTOR, "[data-field='lag']").get_attribute("data-value") == "12"
    )

    changes = browser.find_elements(By.CSS_SELECTOR, "#schema-changes tr[data-change]")
    assert len(changes) == len(data["schema_changes"]) == 2
    for row, change in zip(changes, data["schema_changes"], strict=True):  # newest first, as the API lists them
        assert row.find_element(By.CSS_SELECTOR, "[data-field='table']").text == change["table"]
        assert row.find_element(By.CSS_SELECTOR, "[data-field='outcome']").text == change["outcome"]
    assert changes[0].find_element(By.CSS_SELECTOR, "[data-field='change']").text == (
        "type change balance (numeric(6,2) → numeric(12,4))"
    )

    for chart in ("eps", "duration", "freshness", "dead", "lag", "wal"):
        svg = browser.find_element(By.ID, f"chart-{chart}")
        assert int(svg.get_attribute("data-series")) >= 1, chart
    paths = browser.find_elements(By.CSS_SELECTOR, "#chart-eps path, #chart-freshness path")
    assert any(len(p.get_attribute("d")) > 20 for p in paths)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-dead rect")  # the bucket with a dead letter

    first = rendered(browser)
    browser.execute_script("render = window.heldRender;")
    world.down.add("kafka")  # the page follows without a reload
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rendered(browser, first)
        if browser.find_element(By.ID, "overall").text == "unhealthy":
            break
        time.sleep(0.2)
    assert browser.find_element(By.ID, "overall").text == "unhealthy"
    card = browser.find_element(By.CSS_SELECTOR, "[data-component='kafka']")
    assert card.find_element(By.CSS_SELECTOR, ".state").text == "down"
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1

    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    shutil.copy(tmp_path / "dashboard.png", "/tmp/aladia-dashboard.png")
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    requested = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(r.startswith(url) for r in requested)  # nothing from outside
