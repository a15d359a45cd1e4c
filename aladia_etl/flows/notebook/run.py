"""Write and execute the notebook: build its cells, run them headless in a Jupyter kernel of this very interpreter
(nbclient, ipykernel), and write the executed notebook atomically.

- The kernel is `python3` from this interpreter (`sys.executable`), not whatever kernel a user's Jupyter lists.
- The settings reach the kernel as ALADIA_* environment variables (`settings_env`), never through the notebook:
  the file holds no password, and every output is passed through the masking (`core.secrets`) before it is saved.
- The target is a .ipynb file (or a directory to write aladia-notebook.ipynb in) that does not exist, or a notebook
  aladia wrote (a regular file with `metadata.aladia`): nothing else is ever replaced (`files.check_target`).
- A cell that fails, or runs longer than the timeout, or a kernel that dies, stops the run: nothing is written to the
  target; the notebook as far as it ran, the error included, is saved beside it as `<name>.failed.ipynb` (removed
  by the next run that succeeds), and the error names the section.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aladia_etl.core import errors
from aladia_etl.core.errors import AladiaError, MissingDependency, UsageError
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import ENV_PREFIX, NESTED_DELIMITER, Settings
from aladia_etl.flows.notebook.cells import SECTIONS, NotebookSpec, build_notebook, parse_sections, section_of
from aladia_etl.flows.notebook.files import WRITE_FIX, check_target, failed_path, replace_problem

EXTRA = ("nbclient", "nbformat", "ipykernel", "matplotlib")
INSTALL = "install it with: pip install 'aladia-etl[notebook]'"
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
    `files.target`, `files.check_target`). Raises UsageError (a bad bench file, an --out that is no notebook file or
    not aladia's to replace, or unwritable), MissingDependency (no notebook extra), ServiceUnavailable or AladiaError
    (the warehouse down, or without the aladia schema) before a kernel starts, and an AladiaError naming the section
    when a cell fails, runs past `timeout` seconds or the kernel dies (its own class for an AladiaError raised in the
    kernel)."""
    from aladia_etl.flows.notebook.bench import load_bench

    sections = parse_sections(list(sections)) if sections else ()  # none: the bench's sections only
    if bench is not None:
        load_bench(bench)  # a missing or malformed file is a usage error before anything runs
        bench = Path(bench).expanduser().absolute()
    path = check_target(out, bench)
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
    """Execute `nb` in a kernel of this interpreter and write it to `path` (atomically), then remove a failed run's
    notebook beside it (when aladia wrote it); when a cell fails, runs longer than `timeout` seconds or the kernel
    dies, write what ran to `failed_path(path)` and raise an AladiaError naming the cell's section."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # Only the kernel ipykernel provides for this interpreter: no kernel.json found elsewhere is used.
    specs = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
    # The asynchronous manager, as nbclient expects: with the blocking one, its wait for a cell's output blocks its
    # event loop, and a cell that runs past the timeout, or a kernel that died, is never noticed.
    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    task = reporter.task("running the notebook", total=code_cells)
    running: list[tuple[Any, int]] = []  # the cell sent to the kernel last, and its index

    def on_cell_execute(cell, cell_index) -> None:
        running[:] = [(cell, cell_index)]

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
        on_cell_execute=on_cell_execute,
        on_cell_executed=on_cell_executed,
    )
    workdir = str(cwd or Path.cwd())

    def where() -> str:
        return _where(*running[0]) if running else "current cell"

    with task, tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as kernel_log:
        try:
            _run(client, km, cwd=workdir, env=env or dict(os.environ), stdout=kernel_log, stderr=kernel_log)
        except CellExecutionError as exc:
            saved = _save_failed(nb, path, "the traceback")
            raise _cell_error(where(), exc.ename, exc.evalue, saved) from None
        except CellTimeoutError:
            saved = _save_failed(nb, path, "what ran")
            raise AladiaError(
                f"the notebook's {where()} did not finish within {timeout} s ({saved})",
                "give it more time (--timeout SECONDS), or find what it waits for (the warehouse's load, a lock)",
            ) from None
        except DeadKernelError:
            saved = _save_failed(nb, path, "what ran")
            raise AladiaError(
                f"the notebook's kernel died while running its {where()} ({saved})",
                "check the memory available, then run 'aladia notebook' again",
                detail=_tail(kernel_log),
            ) from None
        except RuntimeError as exc:  # the kernel did not start (or answer)
            if running:
                saved = _save_failed(nb, path, "what ran")
                raise AladiaError(
                    f"the notebook's kernel stopped answering while running its {where()}: {_first_line(exc)} "
                    f"({saved})",
                    "run 'aladia notebook' again",
                    detail=_tail(kernel_log),
                ) from None
            raise AladiaError(
                f"the notebook's kernel ({sys.executable} -m ipykernel_launcher) did not start: {_first_line(exc)}",
                f"check that ipykernel works in this environment ({INSTALL.split(': ', 1)[1]})",
                detail=_tail(kernel_log),
            ) from None
    _write(nb, path)
    _remove_stale(failed_path(path))
    images = sum(
        1
        for c in nb.cells
        for o in c.get("outputs", [])
        if any(mime.startswith("image/") for mime in (o.get("data") or {}))
    )
    sections = tuple(dict.fromkeys(c.metadata.get("aladia", {}).get("section", "") for c in nb.cells))
    return NotebookResult(path, code_cells, images, tuple(s for s in sections if s and s != "setup"))


def _where(cell: Any, index: int) -> str:
    """A cell as a message names it: its section's title, or its position when it belongs to none."""
    if (cell.get("metadata") or {}).get("aladia", {}).get("section"):
        return f"section '{section_of(cell)}'"
    return f"cell {index + 1}"


def _run(client: Any, km: Any, **kwargs: Any) -> None:
    """`client.execute` in a thread of its own, the kernel shut down at the end. nbclient takes SIGINT and SIGTERM
    over while it runs in the main thread, and only schedules the kernel's shutdown; here they reach the command
    (Ctrl-C: "interrupted", exit 130) and the kernel is killed, with the processes its cells started."""
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
        _kill_kernel(getattr(km.provisioner, "process", None))  # the kernel this run started (a Popen)
        thread.join(15)
        raise
    if failure:
        raise failure[0]


def _kill_kernel(process: Any) -> None:
    """Kill the kernel this run started, and its process group when the group is the kernel's own (jupyter_client
    starts it in a session of its own: what its cells started is in it). Nothing once the kernel is gone: its
    process is not reaped before `poll`, so its id, and its group's, still name it."""
    if process is None or process.poll() is not None:
        return
    try:
        group: int | None = os.getpgid(process.pid)
    except OSError:
        group = None
    if group is not None and group == process.pid and group != os.getpgrp():
        try:
            os.killpg(group, signal.SIGKILL)
            return
        except OSError:
            pass
    process.kill()


def _cell_error(where: str, ename: str, evalue: str, saved: str) -> AladiaError:
    """The failed cell's section and exception; an AladiaError raised in the kernel keeps its exit code."""
    kind = getattr(errors, ename, None)
    lines = _clean(str(evalue)).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(kind, type) and issubclass(kind, AladiaError):  # its reason — its fix
        reason, _, fix = text.partition(" — ")
        return kind(f"the notebook's {where} failed: {reason}", f"{fix} ({saved})" if fix else saved)
    return AladiaError(f"the notebook's {where} failed: {ename}: {text}", saved)


def _first_line(exc: BaseException) -> str:
    lines = _clean(str(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _save_failed(nb: Any, path: Path, what: str) -> str:
    """Save the notebook as far as it ran beside `path`; where `what` (the traceback, what ran) is, or why it could
    not be saved (the cell's error stays the one reported)."""
    failed = failed_path(path)
    try:
        _write(nb, failed)
    except AladiaError as exc:
        return f"{what} could not be saved: {exc.reason}"
    return f"{what} is in {failed}"


def _remove_stale(failed: Path) -> None:
    """A failed run's notebook, out of date once the notebook ran: removed when it is aladia's own."""
    if replace_problem(failed) is None:
        failed.unlink(missing_ok=True)


def _tail(log: Any, lines: int = 20) -> str | None:
    log.flush()
    log.seek(0)
    text = _clean(log.read()).strip()
    return "\n".join(text.splitlines()[-lines:]) if text else None


# ANSI escape sequences (CSI such as colours, OSC such as hyperlinks, two-character escapes): IPython colours its
# tracebacks, and a secret right after a colour code ('…31m' + secret) would not stand as a value of its own.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]|\x9b[0-?]*[ -/]*[@-~]")


def _clean(text: str) -> str:
    """`text` without ANSI escape sequences, masked (`core.secrets.mask`)."""
    from aladia_etl.core.secrets import mask

    return mask(_ANSI.sub("", text))


def _masked(nb: Any) -> None:
    """Every output through the masking: text, errors and tracebacks without their colour codes, JSON data
    (`mask_data`), SVG; the other images (base64) are left as they are."""
    from aladia_etl.core.secrets import mask_data

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return _clean(value)
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = clean(output[key])
            data = output.get("data") or {}
            for mime, value in data.items():
                if isinstance(value, dict) or (isinstance(value, list) and "json" in mime):
                    data[mime] = mask_data(value)
                elif mime == "image/svg+xml" or not mime.startswith("image/"):
                    data[mime] = clean(value)


def _write(nb: Any, path: Path) -> Path:
    """Write `nb`, masked, to `path`: only where nothing is, or over a notebook aladia wrote (checked again now)."""
    import nbformat

    from aladia_etl.core.files import atomic_write

    problem = replace_problem(path)
    if problem:
        raise UsageError(f"{path} {problem}: it is not replaced", f"move it away, or {WRITE_FIX}")
    _masked(nb)
    atomic_write(path, nbformat.writes(nb), fix=WRITE_FIX)
    return path
