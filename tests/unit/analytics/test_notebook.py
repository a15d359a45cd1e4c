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
from aladia_etl.flows.notebook import files as nb_files
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
    assert ran["path"] == tmp_path / nb_files.DEFAULT_NAME
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
        ('{"drain": {"spark": {"events_per_s": NaN}}}', "NaN is not a JSON number"),
        ('{"drain": {"spark": {"events_per_s": -Infinity}}}', "-Infinity is not a JSON number"),
        ('{"drain": {"spark": {"events_per_s": 1e400}}}', "the number 1e400 is out of range"),
        ('{"drain": {"spark": {"events_per_s": 1' + "0" * 400 + "}}}", "is out of range"),
        ('{"drain": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"drain": {"spark": {"x": ' + "[" * 40 + "]" * 40 + "}}}", "nested deeper than 32 levels"),
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


def _unix_socket(path: Path):
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return sock


@pytest.mark.timeout(60)  # a pipe must not be opened (it would wait for a writer)
@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: os.mkfifo(p), "is not a regular file (a pipe)"),
        (_unix_socket, "is not a regular file (a socket)"),
        (lambda p: os.truncate(p.touch() or p, 51 << 20), "is larger than 50 MiB"),  # sparse: no disk used
    ],
)
def test_a_bench_file_that_is_no_regular_file_or_too_large_is_refused(tmp_path, make, needle):
    path = tmp_path / "bench.json"
    made = make(path)
    try:
        with pytest.raises(UsageError, match=re.escape(needle)) as caught:
            bench_figures.load_bench(path)
        assert "\n" not in str(caught.value)
    finally:
        if hasattr(made, "close"):
            made.close()


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
    assert nb_files.target(None) == tmp_path / "aladia-notebook.ipynb"
    assert nb_files.target(tmp_path) == tmp_path / "aladia-notebook.ipynb"
    assert nb_files.target(tmp_path / "x.ipynb") == tmp_path / "x.ipynb"
    assert nb_files.target(tmp_path / "reports") == tmp_path / "reports" / "aladia-notebook.ipynb"  # to be created
    assert nb_files.failed_path(tmp_path / "x.ipynb") == tmp_path / "x.failed.ipynb"
    (tmp_path / "notes.d").mkdir()
    assert nb_files.target(tmp_path / "notes.d") == tmp_path / "notes.d" / "aladia-notebook.ipynb"  # a directory
    for name in ("x.json", "README.md", ".env"):
        if name != "x.json":
            (tmp_path / name).write_text("keep me")
        with pytest.raises(UsageError, match=re.escape("is not a notebook file (its name does not end in .ipynb)")):
            nb_files.target(tmp_path / name)


def _aladia_notebook(path: Path) -> str:
    text = nbformat.writes(build_notebook(NotebookSpec(sections=("insights",))))
    path.write_text(text)
    return text


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _symlink(path: Path) -> None:
    target = path.with_name("elsewhere.ipynb")
    _aladia_notebook(target)
    path.symlink_to(target)


def _read_only(path: Path) -> None:
    _aladia_notebook(path)
    path.chmod(0o444)


def _failed_is_a_directory(path: Path) -> None:
    nb_files.failed_path(path).mkdir()


def _failed_is_not_ours(path: Path) -> None:
    nb_files.failed_path(path).write_text('{"cells": [], "metadata": {}}')


@pytest.mark.timeout(120)  # a pipe must never be opened
@pytest.mark.parametrize(
    ("out", "prepare", "needle"),
    [
        ("b.json", None, "is the --bench file"),
        ("README.md", lambda p: p.write_text("# mine"), "is not a notebook file (its name does not end in .ipynb)"),
        (".env", lambda p: p.write_text("A=1"), "is not a notebook file"),
        ("new.html", None, "is not a notebook file"),
        ("mine.ipynb", lambda p: p.write_text('{"cells": [], "metadata": {}}'), "is not a notebook 'aladia notebook'"),
        ("junk.ipynb", lambda p: p.write_text("not json"), "exists and is not a notebook 'aladia notebook' wrote"),
        ("pipe.ipynb", _fifo, "is not a regular file"),
        ("link.ipynb", _symlink, "is a symbolic link"),
        ("ro.ipynb", _read_only, "is read-only"),
        ("nb.ipynb", _failed_is_a_directory, "nb.failed.ipynb (where a failed run is saved) is a directory"),
        ("nb.ipynb", _failed_is_not_ours, "(where a failed run is saved) exists and is not a notebook"),
    ],
)
def test_an_out_that_is_no_notebook_of_aladias_is_refused_before_anything_runs(tmp_path, out, prepare, needle):
    """--out never replaces what aladia did not write: one usage line, before the warehouse is asked (nothing
    answers on its port), and every file as it was."""
    bench = tmp_path / "b.json"
    bench.write_text(BENCH.read_text())
    path = tmp_path / out
    if prepare is not None:
        prepare(path)

    def state():
        return {
            p.name: (p.lstat().st_mode, p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in tmp_path.iterdir()
            if not p.is_fifo()
        }

    before = state()
    env = {"ALADIA_DATA_DIR": str(tmp_path / "data"), "ALADIA_POSTGRES__PORT": "1"}
    result = invoke(["notebook", "--bench", str(bench), "--out", str(path)], env, cwd=tmp_path)
    assert result.code == ExitCode.USAGE, result.output
    assert needle in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert state() == before  # nothing replaced, nothing written
    if out == "pipe.ipynb":
        assert path.is_fifo()


def test_an_out_that_aladia_wrote_is_replaced(tmp_path):
    path = tmp_path / "nb.ipynb"
    _aladia_notebook(path)
    _aladia_notebook(nb_files.failed_path(path))
    assert nb_files.check_target(path, BENCH) == path
    assert nb_files.check_target(tmp_path, BENCH) == tmp_path / nb_files.DEFAULT_NAME
    assert nb_files.replace_problem(path) is None and nb_files.is_aladia_notebook(path)


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


def _run_cells(monkeypatch, report, sections, prober=FakeProber):
    """The setup cell and `sections`' cells, executed here against `report`; the figures each plt.show() showed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aladia_etl.analytics import service
    from aladia_etl.flows import health, status

    monkeypatch.setattr(service, "build", lambda *args: report)
    monkeypatch.setattr(health, "Prober", prober)
    monkeypatch.setattr(status, "pipeline_figures", lambda settings: [])
    shown = []
    monkeypatch.setattr(plt, "show", lambda: (shown.extend(map(plt.figure, plt.get_fignums())), plt.close("all")))
    namespace: dict = {}
    for kind, section, source in cell_plan(NotebookSpec(sections=sections)):
        if kind == "code":
            exec(compile(source, f"<cell {section}>", "exec"), namespace)  # our own cells
    return shown


def test_bars_of_customers_and_products_with_equal_names_are_drawn_apart(monkeypatch):
    """Two customers (products) of the same name are two bars, each labelled with its id: a bar chart by name would
    draw them at one place."""
    report = sample.report()
    first = report["sections"]["customers"][0]
    report["sections"]["customers"] = [first, {**first, "customer_id": 2, "revenue": first["revenue"] / 2}]
    lamp = report["sections"]["products"]["by_revenue"][0]
    report["sections"]["products"]["by_revenue"] = [lamp, {**lamp, "product_id": 8}]
    customers, products = _run_cells(monkeypatch, report, ("customers", "products"))
    for ax, ids in ((customers.axes[0], ("#1", "#2")), (products.axes[0], ("#7", "#8"))):
        assert len({bar.get_y() for bar in ax.patches}) == 2  # two places, not one
        labels = [tick.get_text() for tick in ax.get_yticklabels()]
        assert len(labels) == 2 and all(any(i in label for label in labels) for i in ids), labels
    assert "(#1)" in customers.axes[0].get_yticklabels()[1].get_text()  # the first, the largest, on top


class LeakyProber(FakeProber):
    def check(self):
        from aladia_etl.flows.health import ComponentState

        detail = "connection refused: http://admin:" + SECRET + "@connect:8083/"  # the table cuts it in the secret
        return {"connect": ComponentState("connect", "down", detail)}


def test_the_health_tables_detail_is_masked_before_it_is_shown(monkeypatch, capsys):
    """The table shortens a long detail, and a cut URL is no longer recognised as one: the detail is masked whole,
    before it is shown."""
    _run_cells(monkeypatch, sample.report(), ("health",), LeakyProber)
    out = capsys.readouterr().out
    assert "connect" in out and "down" in out and "http://admin" in out
    assert SECRET[:5] not in out, out


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


SECRET_2 = "c0nnect-Secret-7"


def _sectioned(*sources: str, sections=("setup", "customers", "products")):
    import nbformat.v4 as v4

    cells = [v4.new_code_cell(source) for source in sources]
    for cell, section in zip(cells, sections, strict=False):
        cell.metadata["aladia"] = {"section": section}
    nb = v4.new_notebook(cells=cells)
    nb.metadata["aladia"] = {"sections": list(sections)}
    return nb


def test_a_failed_run_saves_no_secret_of_the_settings_the_kernel_gets(tmp_path):
    """The kernel gets the settings (passwords included): what its cells print, display or raise is saved masked,
    colour codes, JSON and SVG outputs, the error's value and its traceback too."""
    from aladia_etl.core.settings import load_settings

    settings = load_settings(
        data_dir=tmp_path, postgres={"password": SECRET}, connect={"username": "nb-user", "password": SECRET_2}
    )
    shows = """\
from IPython.display import JSON, display
from aladia_etl.core.settings import load_settings

settings = load_settings()
pg = settings.postgres.password.get_secret_value()
print(settings.connect.http())  # a client's configuration: ('nb-user', '<password>')
print("\\x1b[0;31m" + pg + "\\x1b[0m")  # a secret right after a colour code
display(JSON({"auth": list(settings.connect.http()["auth"])}))
display({"image/svg+xml": f"<svg><text>{pg}</text></svg>"}, raw=True)
settings.connect.http()"""
    raising = 'raise RuntimeError(f"postgresql://u:{pg}@h/db")'
    target = tmp_path / "nb.ipynb"
    with pytest.raises(AladiaError) as caught:
        run.execute(_sectioned(shows, raising), target, env=run.kernel_env(settings), cwd=tmp_path)
    message = str(caught.value)
    assert "section 'Top customers' failed: RuntimeError: postgresql://u:********@h/db" in message
    assert SECRET not in message and SECRET_2 not in message
    assert not target.exists()
    saved = nb_files.failed_path(target).read_text()
    failed = json.loads(saved)
    outputs = [o for cell in failed["cells"] for o in cell["outputs"]]
    kinds = {o["output_type"] for o in outputs}
    assert kinds == {"stream", "display_data", "execute_result", "error"}, kinds
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)
    assert any("application/json" in o.get("data", {}) for o in outputs)
    error = next(o for o in outputs if o["output_type"] == "error")
    assert error["traceback"] and "u:********@h/db" in error["evalue"]
    for secret in (SECRET, SECRET_2):
        assert secret not in saved
        assert not [o for o in outputs if secret in json.dumps(o)]
    assert "\x1b" not in "".join(error["traceback"])  # the colours are gone: nothing hides a secret behind one
    assert saved.count("********") >= 6


def test_clean_output_masks_after_colour_codes_in_json_and_svg():
    from aladia_etl.core import secrets

    secrets.register(SECRET)
    nb = _sectioned("x = 1")
    nb.cells[0].outputs = [
        {"output_type": "stream", "name": "stdout", "text": f"\x1b[0;31m{SECRET}\x1b[0m and \x1b]8;;u\x1b\\{SECRET}"},
        {
            "output_type": "error",
            "ename": "E",
            "evalue": f"\x1b[1m{SECRET}",
            "traceback": [f"\x1b[31mE\x1b[39m: \x1b[38;5;124m{SECRET}\x1b[39m"],
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "application/json": {"auth": ["me", SECRET], "password": "x" * 8},
                "image/svg+xml": f"<svg><text>{SECRET}</text></svg>",
                "text/plain": [f"\x1b[32m{SECRET}"],
                "image/png": "iVBORw0KGgo=",
            },
        },
    ]
    run._masked(nb)
    text = json.dumps(nb)
    assert SECRET not in text and "\\u001b" not in text
    data = nb.cells[0].outputs[2]["data"]
    assert data["application/json"] == {"auth": ["me", "********"], "password": "********"}
    assert data["image/png"] == "iVBORw0KGgo="


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("import time\ntime.sleep(120)", "the notebook's section 'Top customers' did not finish within 3 s"),
        (
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
            "the notebook's kernel died while running its section 'Top customers'",
        ),
    ],
)
def test_a_timeout_or_a_dead_kernel_names_the_section(tmp_path, source, needle):
    target = tmp_path / "nb.ipynb"
    with pytest.raises(AladiaError) as caught:
        run.execute(_sectioned("x = 1", source, "y = 2"), target, cwd=tmp_path, timeout=3)
    message = str(caught.value)
    assert needle in message, message
    assert f"what ran is in {nb_files.failed_path(target)}" in message and "traceback" not in message
    assert "\n" not in message and "a cell" not in message
    assert not target.exists()
    failed = json.loads(nb_files.failed_path(target).read_text())
    assert failed["cells"][0]["outputs"] == [] and failed["cells"][0]["execution_count"] == 1


def test_the_timeout_option_reaches_the_run(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(
        run, "build_and_run", lambda *a, **kw: seen.update(kw) or run.NotebookResult(tmp_path, 0, 0, ())
    )
    result = invoke(["notebook", "--out", str(tmp_path), "--timeout", "7"], {"ALADIA_DATA_DIR": str(tmp_path)})
    assert result.code == 0, result.output
    assert seen["timeout"] == 7
    assert "--timeout SECONDS" in " ".join(invoke(["notebook", "-h"]).stdout.split())
    bad = invoke(["notebook", "--out", str(tmp_path), "--timeout", "0"], {"ALADIA_DATA_DIR": str(tmp_path)})
    assert bad.code == ExitCode.USAGE and "--timeout" in bad.stderr


def test_a_failed_run_whose_notebook_cannot_be_saved_still_reports_the_cell(tmp_path):
    target = tmp_path / "nb.ipynb"
    nb_files.failed_path(target).mkdir()  # made after the checks of --out
    with pytest.raises(AladiaError) as caught:
        run.execute(_sectioned("x = 1", "1 / 0"), target, cwd=tmp_path)
    assert type(caught.value) is AladiaError  # not the UsageError of the write
    message = str(caught.value)
    assert "section 'Top customers' failed: ZeroDivisionError" in message
    assert "the traceback could not be saved" in message and "is a directory" in message
    assert nb_files.failed_path(target).is_dir() and not target.exists()


def test_a_run_that_succeeds_removes_the_failed_runs_notebook_only_when_aladia_wrote_it(tmp_path):
    ours, theirs = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    _aladia_notebook(nb_files.failed_path(ours))
    nb_files.failed_path(theirs).write_text("my own notes")
    for path in (ours, theirs):
        run.execute(_sectioned("x = 1"), path, cwd=tmp_path)
        assert nb_files.is_aladia_notebook(path)
    assert not nb_files.failed_path(ours).exists()
    assert nb_files.failed_path(theirs).read_text() == "my own notes"


def test_a_notebook_that_cannot_be_written_says_how_to_name_one(monkeypatch, tmp_path):
    from aladia_etl.core import files

    def full(**kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.tempfile, "mkstemp", full)
    with pytest.raises(UsageError) as caught:
        run._write(_sectioned("x = 1"), tmp_path / "nb.ipynb")
    assert "No space left on device" in caught.value.reason
    assert ".ipynb" in (caught.value.fix or "") and "report.html" not in str(caught.value)


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
    assert str(nb_files.failed_path(target)) in str(error) and "\n" not in str(error)
    assert not target.exists()
    failed = json.loads(nb_files.failed_path(target).read_text())
    assert [o["output_type"] for o in failed["cells"][1]["outputs"]] == ["error"]
    assert failed["cells"][2]["outputs"] == []  # the run stopped at the failed cell
    assert not [p for p in Path(tmp_path).iterdir() if p.name.endswith(".tmp")]


INTERRUPTED_CHILD = """
import signal, sys
from pathlib import Path

import nbformat.v4 as v4

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from aladia_etl.flows.notebook import run


async def nothing(self, *args, **kwargs):
    pass


# What the command kills itself: jupyter_client's clean-up (run by nbclient's thread, when it gets to it in time and
# the kernel still lives) signals the kernel's process group too, and would hide a command that does not.
LocalProvisioner.kill = LocalProvisioner.terminate = LocalProvisioner.send_signal = nothing
signal.signal(signal.SIGINT, signal.default_int_handler)  # a terminal's Ctrl-C (see test_cli_basics)
marker = Path(sys.argv[1])
cell = (
    "import os, subprocess, time\\nPath = __import__('pathlib').Path\\n"
    "child = subprocess.Popen(['sleep', '120'])\\n"  # started by the cell: in the kernel's process group
    f"Path({str(marker)!r} + '.tmp').write_text(f'{{os.getpid()}} {{child.pid}}')\\n"
    f"os.replace({str(marker)!r} + '.tmp', {str(marker)!r})\\n"
)
try:
    run.execute(v4.new_notebook(cells=[v4.new_code_cell(cell + "time.sleep(120)")]), marker.with_name("nb.ipynb"))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped by whoever inherited it, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_ctrl_c_stops_the_run_and_its_kernel(tmp_path):
    """nbclient would only schedule the kernel's shutdown and go on; the command stops, the kernel with it, and what
    the kernel's cells started (its process group)."""
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
        kernel, child = (int(pid) for pid in marker.read_text().split())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.strip() == "interrupted"
    assert not (tmp_path / "nb.ipynb").exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_alive(kernel) or _alive(child)):
        time.sleep(0.1)
    survivors = [pid for pid in (kernel, child) if _alive(pid)]
    for pid in survivors:
        os.kill(pid, 9)  # this test's own kernel, and the process its cell started
    assert not survivors, "the kernel, or a process its cell started, outlived the run"
