"""`aladia notebook`: the cells built for the sections asked for (the bench's only with a bench file), no secret in
the notebook, the bench file checked before anything runs, the missing extra as one line, the cells' code run
against a sample report, and the kernel's run (a failed cell names its section; the target is not written)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from aladia_etl.core.errors import AladiaError, ExitCode, MissingDependency, ServiceUnavailable, UsageError
from aladia_etl.flows.notebook import bench as bench_figures
from aladia_etl.flows.notebook import run
from aladia_etl.flows.notebook.cells import (
    BENCH_SECTIONS,
    SECTIONS,
    NotebookSpec,
    build_notebook,
    cell_plan,
    parse_sections,
)
from tests.cli import invoke
from tests.helpers import REPO
from tests.unit.analytics import sample

nbformat = pytest.importorskip("nbformat")
BENCH = REPO / "docs" / "bench-2026-11-26.json"
SECRET = "n0tebook-Secret-9"


def sections_of(nb) -> list[str]:
    return list(dict.fromkeys(c.metadata["aladia"]["section"] for c in nb.cells))


def test_cells_for_the_sections_asked_for():
    nb = build_notebook(NotebookSpec(sections=("customers", "anomalies")))
    assert sections_of(nb) == ["setup", "customers", "anomalies"]
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert NotebookSpec(sections=("customers", "anomalies")).report_sections == ("customers", "anomalies")
    assert NotebookSpec(sections=("health",)).report_sections == ("realtime",)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code[0].startswith("# Parameters") and nb.cells[1].metadata["tags"] == ["parameters"]
    assert "service.build(settings, REPORT_SECTIONS" in code[1]  # the analytics API, not SQL of its own
    assert not any("SELECT" in source for source in code)


def test_every_section_in_order_and_the_bench_only_with_a_bench_file():
    assert sections_of(build_notebook(NotebookSpec())) == ["setup", *SECTIONS]
    with_bench = build_notebook(NotebookSpec(bench=BENCH))
    assert sections_of(with_bench) == ["setup", *SECTIONS, *BENCH_SECTIONS]
    assert f"BENCH_FILE = {str(BENCH)!r}" in with_bench.cells[1].source
    assert "BENCH_FILE" not in build_notebook(NotebookSpec()).cells[1].source
    nbformat.validate(with_bench)


def test_unknown_sections_are_a_usage_error():
    assert parse_sections([]) == SECTIONS
    assert parse_sections(["insights", "health"]) == ("health", "insights")
    with pytest.raises(UsageError, match="unknown notebook section"):
        parse_sections(["bogus"])


def test_the_notebook_holds_no_secret_and_the_kernel_gets_the_settings(monkeypatch, tmp_path):
    from aladia_etl.core.settings import load_settings

    settings = load_settings(postgres={"password": SECRET}, serve={"token": "t" * 32})
    ran = {}

    def fake_execute(nb, path, *, env, timeout, reporter):
        ran.update(nb=nb, env=env, path=path)
        return run.NotebookResult(path, 0, 0, ())

    monkeypatch.setattr(run, "_check_warehouse", lambda settings: None)
    monkeypatch.setattr(run, "execute", fake_execute)
    run.build_and_run(settings, tmp_path, BENCH)
    assert ran["path"] == tmp_path / run.DEFAULT_NAME
    text = nbformat.writes(ran["nb"])
    assert SECRET not in text and "PASSWORD" not in text.upper()
    assert ran["env"]["ALADIA_POSTGRES__PASSWORD"] == SECRET
    assert not any(k.startswith("ALADIA_SERVE") for k in ran["env"])  # the API token stays out of the kernel
    assert ran["env"]["MPLBACKEND"].endswith("backend_inline")


def test_a_bench_only_notebook_needs_no_warehouse(monkeypatch, tmp_path):
    from aladia_etl.core.settings import load_settings

    def no_warehouse(settings):
        raise AssertionError("the warehouse was asked")

    ran = {}
    monkeypatch.setattr(run, "_check_warehouse", no_warehouse)
    monkeypatch.setattr(run, "execute", lambda nb, path, **kw: ran.update(nb=nb) or run.NotebookResult(path, 0, 0, ()))
    run.build_and_run(load_settings(), tmp_path / "b.ipynb", BENCH, sections=())
    assert sections_of(ran["nb"]) == ["setup", *BENCH_SECTIONS]
    assert "REPORT_SECTIONS = ()" in ran["nb"].cells[1].source
    with pytest.raises(UsageError, match="unknown notebook section"):
        run.build_and_run(load_settings(), tmp_path / "b.ipynb", sections=("bogus",))


def test_the_settings_survive_the_trip_through_the_environment(monkeypatch, tmp_path):
    from aladia_etl.core.settings import load_settings

    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET)
    original = load_settings(
        data_dir=tmp_path,
        postgres={"password_file": secret_file, "port": 6543},
        kafka={"bootstrap_servers": "a:1,b:2", "security": {"check_hostname": False}},
        connect={"username": "me", "password": "c0nnect-Pass"},
    )
    env = run.settings_env(original)
    assert "ALADIA_POSTGRES__PASSWORD" not in env  # its file travels instead
    assert env["ALADIA_POSTGRES__PASSWORD_FILE"] == str(secret_file)
    for key in [k for k in os.environ if k.startswith("ALADIA_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    again = load_settings(_env_file=None)
    assert again.model_dump(exclude={"serve"}) == original.model_dump(exclude={"serve"})
    assert again.postgres.password.get_secret_value() == SECRET


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such file"),
        ("{nope", "is not JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"started_at": "x"}', "it has none of"),
        ('{"drain": []}', "'drain' is a JSON list"),
        ('{"drain": {"spark": {"events_per_s": "fast"}}}', "'drain.spark.events_per_s' is a JSON string"),
        ('{"drain_matrix": [1]}', "'drain_matrix[0]' is a JSON number"),
        ('{"sustained": {"beam": {"steps": [{"rate": 1, "passed": "yes"}]}}}', "not true or false"),
    ],
)
def test_a_missing_or_malformed_bench_file_is_one_usage_line_before_anything_runs(tmp_path, content, needle):
    path = tmp_path / "bench.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=re.escape(needle)):
        bench_figures.load_bench(path)
    # through the CLI: nothing answers on these ports, nothing is tried; one line, exit 2, no file written
    env = {"ALADIA_DATA_DIR": str(tmp_path), "ALADIA_POSTGRES__PORT": "1"}
    result = invoke(["notebook", "--bench", str(path), "--out", str(tmp_path / "nb.ipynb")], env)
    assert result.code == ExitCode.USAGE, result.output
    assert needle in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nb.ipynb").exists()


def test_the_bench_figures_of_a_real_result():
    result = bench_figures.load_bench(BENCH)
    contenders = [r["contender"] for r in bench_figures.engine_rows(result)]
    assert contenders[:3] == ["spark (JSON with schemas)", "beam (JSON with schemas)", "Debezium JDBC sink"]
    assert "native replication (rows/s)" in contenders
    assert {r["engine"] for r in bench_figures.freshness_rows(result)} == {"spark", "beam"}
    matrix = bench_figures.matrix_rows(result)
    assert len(matrix) == len(result["drain_matrix"]) and all(r["events_per_s"] > 0 for r in matrix)
    steps = bench_figures.sustained_rows(result)
    assert {r["contender"] for r in steps} == {"Debezium capture alone", "spark", "beam"}
    # a result without its optional parts (--peers '' --no-matrix --sustained-seconds 0) still gives figures
    assert bench_figures.engine_rows({"drain": {"spark": {"events_per_s": 5}}})[0]["events_per_s"] == 5.0
    assert bench_figures.matrix_rows({}) == [] and bench_figures.sustained_rows({}) == []


def test_the_missing_extra_is_one_line_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(run, "EXTRA", (*run.EXTRA, "aladia_no_such_module"))
    with pytest.raises(MissingDependency, match="aladia_no_such_module"):
        run.require_extra()
    result = invoke(["notebook", "--out", str(tmp_path)], {"ALADIA_DATA_DIR": str(tmp_path)})
    assert result.code == ExitCode.MISSING_DEPENDENCY, result.output
    assert "pip install 'aladia-etl[notebook]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_help_shows_placeholders_and_an_example():
    result = invoke(["notebook", "-h"])
    assert result.code == 0
    text = " ".join(result.stdout.split())
    assert "--out PATH" in text and "--bench FILE" in text and "Example: aladia notebook" in text
    assert "aladia-etl[notebook]" in text


def test_default_target_is_beside_the_html_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run.target(None) == tmp_path / "aladia-notebook.ipynb"
    assert run.target(tmp_path) == tmp_path / "aladia-notebook.ipynb"
    assert run.target(tmp_path / "x.ipynb") == tmp_path / "x.ipynb"
    assert run.target(tmp_path / "reports") == tmp_path / "reports" / "aladia-notebook.ipynb"  # to be created
    assert run.failed_path(tmp_path / "x.ipynb") == tmp_path / "x.failed.ipynb"


class FakeProber:
    def __init__(self, settings):
        pass

    def check(self):
        from aladia_etl.flows.health import ComponentState

        return {"kafka": ComponentState("kafka", "ok", "up"), "stream": ComponentState("stream", "absent", "none")}


def test_the_cells_run_against_a_sample_report(monkeypatch, capsys):
    """The code cells, executed here in order (no kernel, no warehouse): the analytics API gives the sample report;
    every chart is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aladia_etl.analytics import service
    from aladia_etl.flows import health, status

    report = sample.report()
    asked = []
    monkeypatch.setattr(service, "build", lambda *args: asked.append(args) or report)
    monkeypatch.setattr(health, "Prober", FakeProber)
    monkeypatch.setattr(status, "pipeline_figures", lambda settings: [{"engine": "spark", "batches": 3}])
    shown = []
    monkeypatch.setattr(plt, "show", lambda: (shown.append(len(plt.get_fignums())), plt.close("all")))
    namespace: dict = {}
    for kind, section, source in cell_plan(NotebookSpec(bench=BENCH, capture=("public.orders",))):
        if kind == "code":
            exec(compile(source, f"<cell {section}>", "exec"), namespace)  # our own cells
    assert asked[0][1:] == (
        ("summary", "customers", "products", "realtime", "anomalies", "insights"),
        10,
        60,
        None,
        3.5,
    )
    assert namespace["settings"].capture == ("public.orders",)
    # revenue, customers, products, anomalies, the bench's two
    assert shown == [1] * 6
    out = capsys.readouterr().out
    assert "Revenue grew & fell" in out


def test_a_run_in_a_real_kernel_masks_secrets_and_counts_plots(tmp_path):
    import nbformat.v4 as v4

    from aladia_etl.core import secrets

    secrets.register(SECRET)
    nb = v4.new_notebook(
        cells=[
            v4.new_code_cell("import os\nprint(os.environ['NB_SECRET'])"),
            v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"),
        ]
    )
    result = run.execute(nb, tmp_path / "ok.ipynb", env={**os.environ, "NB_SECRET": SECRET}, cwd=tmp_path)
    assert (result.cells, result.images) == (2, 1)
    text = (tmp_path / "ok.ipynb").read_text()
    assert SECRET not in text and "********" in text


@pytest.mark.parametrize(
    ("raising", "kind", "needle"),
    [
        ("1 / 0", AladiaError, "ZeroDivisionError: division by zero"),
        (
            "from aladia_etl.core.errors import ServiceUnavailable\nraise ServiceUnavailable('db down', 'start it')",
            ServiceUnavailable,
            "failed: db down — start it (the traceback is in",
        ),
    ],
)
def test_a_failed_cell_names_its_section_and_leaves_the_target_unwritten(tmp_path, raising, kind, needle):
    import nbformat.v4 as v4

    cells = [v4.new_code_cell("x = 1"), v4.new_code_cell(raising), v4.new_code_cell("y = 2")]
    for cell, section in zip(cells, ("setup", "customers", "products"), strict=True):
        cell.metadata["aladia"] = {"section": section}
    target = tmp_path / "nb.ipynb"
    with pytest.raises(AladiaError) as caught:
        run.execute(v4.new_notebook(cells=cells), target, cwd=tmp_path)
    error = caught.value
    assert type(error) is kind and error.exit_code == kind.exit_code
    assert "section 'Top customers' failed" in str(error) and needle in str(error)
    assert str(run.failed_path(target)) in str(error) and "\n" not in str(error)
    assert not target.exists()
    failed = json.loads(run.failed_path(target).read_text())
    assert [o["output_type"] for o in failed["cells"][1]["outputs"]] == ["error"]
    assert failed["cells"][2]["outputs"] == []  # the run stopped at the failed cell
    assert not [p for p in Path(tmp_path).iterdir() if p.name.endswith(".tmp")]


INTERRUPTED_CHILD = """
import signal, sys
from pathlib import Path

import nbformat.v4 as v4

from aladia_etl.flows.notebook import run

signal.signal(signal.SIGINT, signal.default_int_handler)  # a terminal's Ctrl-C (see test_cli_basics)
marker = Path(sys.argv[1])
cell = f"import os, time\\nPath = __import__('pathlib').Path\\nPath({str(marker)!r}).write_text(str(os.getpid()))\\n"
try:
    run.execute(v4.new_notebook(cells=[v4.new_code_cell(cell + "time.sleep(120)")]), marker.with_name("nb.ipynb"))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_stops_the_run_and_its_kernel(tmp_path):
    """nbclient would only schedule the kernel's shutdown and go on; the command stops, the kernel with it."""
    import signal
    import subprocess
    import sys
    import time

    marker = tmp_path / "kernel.pid"
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_CHILD, str(marker)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the kernel never ran the cell"
        time.sleep(0.2)
        kernel = int(marker.read_text())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.strip() == "interrupted"
    assert not (tmp_path / "nb.ipynb").exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(kernel, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(kernel, 9)  # this test's own kernel
        raise AssertionError("the kernel outlived the run")
