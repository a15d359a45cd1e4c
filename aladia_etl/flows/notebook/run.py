"""Write and execute the notebook: build its cells, run them headless in a Jupyter kernel of this very interpreter
(nbclient, ipykernel), and write the executed notebook atomically.

- The kernel is `python3` from this interpreter (`sys.executable`), not whatever kernel a user's Jupyter lists.
- The settings reach the kernel as ALADIA_* environment variables (`settings_env`), never through the notebook:
  the file holds no password, and every output is passed through the masking (`core.secrets`) before it is saved.
- A cell that fails stops the run: nothing is written to the target; the notebook as far as it ran, the error
  included, is saved beside it as `<name>.failed.ipynb`, and the error names the section and the exception.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aladia_etl.core import errors
from aladia_etl.core.errors import AladiaError, MissingDependency
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import ENV_PREFIX, NESTED_DELIMITER, Settings
from aladia_etl.flows.notebook.cells import SECTIONS, NotebookSpec, build_notebook, parse_sections, section_of

EXTRA = ("nbclient", "nbformat", "ipykernel", "matplotlib")
INSTALL = "install it with: pip install 'aladia-etl[notebook]'"
DEFAULT_NAME = "aladia-notebook.ipynb"
CELL_TIMEOUT_S = 600
STARTUP_TIMEOUT_S = 120
# Setting groups the kernel does not need (the health API's token stays out of its environment).
NOT_FOR_THE_KERNEL = ("serve",)


@dataclass(frozen=True)
class NotebookResult:
    path: Path  # the executed notebook
    cells: int  # code cells executed
    images: int  # image outputs (the plots)
    sections: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "cells": self.cells, "images": self.images, "sections": list(self.sections)}


def require_extra() -> None:
    """The notebook extra is installed in this interpreter (the kernel runs on it too)."""
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependency(f"'aladia notebook' needs {', '.join(missing)}, not installed in {sys.prefix}", INSTALL)


def target(out: Path | None) -> Path:
    """Where the notebook goes: `out`; `out/aladia-notebook.ipynb` for a directory (one that exists, or a path
    without an extension, created); by default ./aladia-notebook.ipynb, beside `aladia report --format html`'s."""
    path = (out or Path(DEFAULT_NAME)).expanduser().absolute()
    return path / DEFAULT_NAME if path.is_dir() or (not path.exists() and not path.suffix) else path


def failed_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.failed{path.suffix or '.ipynb'}")


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the ALADIA_* variables that give them back (`load_settings()` in the kernel): every value
    that is set; a secret given by a `*_file` setting travels as the file's path only."""
    out: dict[str, str] = {}

    def walk(model: Any, prefix: str) -> None:
        fields = type(model).model_fields
        for name in fields:
            value = getattr(model, name)
            if value is None or (prefix == ENV_PREFIX and name in NOT_FOR_THE_KERNEL):
                continue
            key = f"{prefix}{name.upper()}"
            if hasattr(type(value), "model_fields"):
                walk(value, key + NESTED_DELIMITER)
            elif f"{name}_file" in fields and getattr(model, f"{name}_file") is not None:
                continue  # the file gives it
            else:
                out[key] = _env_value(value)

    walk(settings, ENV_PREFIX)
    return out


def _env_value(value: Any) -> str:
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return str(value)


def kernel_env(settings: Settings) -> dict[str, str]:
    """The kernel's environment: this one without its ALADIA_* variables, then `settings` as ALADIA_* variables,
    and matplotlib drawing into the notebook."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(settings_env(settings))
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # the kernel's debugger warns about frozen modules otherwise
    return env


def build_and_run(
    settings: Settings,
    out: Path | None = None,
    bench: Path | None = None,
    *,
    sections: tuple[str, ...] = SECTIONS,
    top: int = 10,
    minutes: int = 60,
    threshold: float = 3.5,
    timeout: int = CELL_TIMEOUT_S,
    reporter: Reporter = SILENT,
) -> NotebookResult:
    """Build the notebook over the warehouse (and the bench result `bench`), execute it, write it to `out` (see
    `target`). Raises UsageError (a bad bench file, an unwritable --out), MissingDependency (no notebook extra),
    ServiceUnavailable or AladiaError (the warehouse down, or without the aladia schema) before a kernel starts, and
    an AladiaError naming the section when a cell fails (its own class for an AladiaError raised in the kernel)."""
    from aladia_etl.flows.notebook.bench import load_bench

    sections = parse_sections(list(sections)) if sections else ()  # none: the bench's sections only
    path = target(out)
    if bench is not None:
        load_bench(bench)  # a missing or malformed file is a usage error before anything runs
        bench = Path(bench).expanduser().absolute()
    from aladia_etl.core.files import check_writable

    check_writable(path, "--out")
    require_extra()
    pg = settings.postgres
    spec = NotebookSpec(
        tuple(sections), top, minutes, threshold, settings.capture, bench, f"{pg.host}:{pg.port}/{pg.warehouse_db}"
    )
    if spec.report_sections:
        _check_warehouse(settings)
    nb = build_notebook(spec, datetime.now(UTC))
    return execute(nb, path, env=kernel_env(settings), timeout=timeout, reporter=reporter)


def _check_warehouse(settings: Settings) -> None:
    """The warehouse answers and has the report views, before a kernel starts (the errors with their exit codes)."""
    from aladia_etl.analytics import api, service

    with api.connect(settings) as conn:
        service.require_schema(settings, conn)


def execute(
    nb: Any,
    path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: int = CELL_TIMEOUT_S,
    reporter: Reporter = SILENT,
) -> NotebookResult:
    """Execute `nb` in a kernel of this interpreter and write it to `path` (atomically); on a failed cell, write
    what ran to `failed_path(path)` and raise an AladiaError naming the cell's section."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # Only the kernel ipykernel provides for this interpreter: no kernel.json found elsewhere is used.
    specs = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    task = reporter.task("running the notebook", total=code_cells)

    def on_cell_executed(cell, cell_index, execute_reply) -> None:
        if cell.cell_type == "code":
            task.advance(1, f"ran {section_of(cell)}")

    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        startup_timeout=STARTUP_TIMEOUT_S,
        allow_errors=False,
        record_timing=False,
        ipython_hist_file=":memory:",
        on_cell_executed=on_cell_executed,
    )
    workdir = str(cwd or Path.cwd())
    with task, tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as kernel_log:
        try:
            _run(client, km, cwd=workdir, env=env or dict(os.environ), stdout=kernel_log, stderr=kernel_log)
        except CellExecutionError as exc:
            failed = _write(nb, failed_path(path))
            raise _cell_error(nb, exc.ename, exc.evalue, failed) from None
        except CellTimeoutError:
            failed = _write(nb, failed_path(path))
            raise _cell_error(nb, "timeout", f"no result within {timeout} s", failed) from None
        except DeadKernelError:
            failed = _write(nb, failed_path(path))
            raise AladiaError(
                f"the notebook's kernel died while running it (saved as far as it ran: {failed})",
                "check the memory available, then run 'aladia notebook' again",
                detail=_tail(kernel_log),
            ) from None
        except RuntimeError as exc:  # the kernel did not start (or answer)
            raise AladiaError(
                f"the notebook's kernel ({sys.executable} -m ipykernel_launcher) did not start: {exc}",
                f"check that ipykernel works in this environment ({INSTALL.split(': ', 1)[1]})",
                detail=_tail(kernel_log),
            ) from None
    _write(nb, path)
    images = sum(
        1
        for c in nb.cells
        for o in c.get("outputs", [])
        if any(mime.startswith("image/") for mime in (o.get("data") or {}))
    )
    sections = tuple(dict.fromkeys(c.metadata.get("aladia", {}).get("section", "") for c in nb.cells))
    return NotebookResult(path, code_cells, images, tuple(s for s in sections if s and s != "setup"))


def _run(client: Any, km: Any, **kwargs: Any) -> None:
    """`client.execute` in a thread of its own, the kernel shut down at the end. nbclient takes SIGINT and SIGTERM
    over while it runs in the main thread, and only schedules the kernel's shutdown; here they reach the command
    (Ctrl-C: "interrupted", exit 130) and the kernel is killed."""
    import threading

    failure: list[BaseException] = []

    def work() -> None:
        try:
            client.execute(cleanup_kc=True, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            failure.append(exc)

    thread = threading.Thread(target=work, name="aladia-notebook", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except BaseException:
        process = getattr(km.provisioner, "process", None)  # the kernel this run started (a Popen)
        if process is not None and process.poll() is None:
            process.kill()
        thread.join(15)
        raise
    if failure:
        raise failure[0]


def _cell_error(nb: Any, ename: str, evalue: str, failed: Path) -> AladiaError:
    """The first failed cell's section and exception; an AladiaError raised in the kernel keeps its exit code."""
    from aladia_etl.core.secrets import mask

    cell = next((c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    where = f"section '{section_of(cell)}'" if cell is not None else "a cell"
    kind = getattr(errors, ename, None)
    text = mask(str(evalue).strip().splitlines()[0] if str(evalue).strip() else "")
    traceback = f"the traceback is in {failed}"
    if isinstance(kind, type) and issubclass(kind, AladiaError):  # its reason — its fix
        reason, _, fix = text.partition(" — ")
        return kind(f"the notebook's {where} failed: {reason}", f"{fix} ({traceback})" if fix else traceback)
    return AladiaError(f"the notebook's {where} failed: {ename}: {text}", traceback)


def _tail(log: Any, lines: int = 20) -> str | None:
    from aladia_etl.core.secrets import mask

    log.flush()
    log.seek(0)
    text = log.read().strip()
    return mask("\n".join(text.splitlines()[-lines:])) if text else None


def _masked(nb: Any) -> None:
    """Every text output through the masking (images are left as they are)."""
    from aladia_etl.core.secrets import mask

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return mask(value)
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = clean(output[key])
            for mime, value in (output.get("data") or {}).items():
                if not mime.startswith("image/"):
                    output["data"][mime] = clean(value)


def _write(nb: Any, path: Path) -> Path:
    import nbformat

    from aladia_etl.core.files import atomic_write

    _masked(nb)
    atomic_write(path, nbformat.writes(nb))
    return path
