"""The package structure of docs/ARCHITECTURE.md, checked on the code: imports point one way (each package
imports only packages below it), no module imports itself back through a cycle, heavy engines are imported only
inside the engines, and no module grows past ~450 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "aladia_etl"
# Bottom to top: a package may import the packages before it, never one after it.
LAYERS = ("core", "stack", "source", "cdc", "bus", "warehouse", "processing", "analytics", "flows", "serve", "cli")
MAX_LINES = 450


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every aladia_etl module `path` imports, at module level or inside functions."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


GRAPH = {name: imports(path, name, set(modules())) for name, path in modules().items()}


def test_every_package_is_in_a_layer():
    top = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert top == set(LAYERS)


def test_imports_point_down_the_layers():
    upward = [
        f"{source} → {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if layer(source) and layer(target) and LAYERS.index(layer(target)) > LAYERS.index(layer(source))
    ]
    assert upward == []


def test_no_module_import_cycle():
    """Depth-first search over the module graph (function-level imports included)."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" → ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_engines_are_only_reached_through_the_registry():
    """pyspark and apache_beam are imported by the engine packages only; nothing imports an engine module but
    the engine's own package (the stream loop finds engines through `processing.model.ENGINES`)."""
    for name, path in modules().items():
        text = path.read_text()
        for heavy, home in (("pyspark", "aladia_etl.processing.spark"), ("apache_beam", "aladia_etl.processing.beam")):
            if f"import {heavy}" in text or f"from {heavy}" in text:
                assert name.startswith(home), f"{name} imports {heavy}"
        for target in GRAPH[name]:
            for home in ("aladia_etl.processing.spark", "aladia_etl.processing.beam"):
                if target.startswith(home):
                    assert name.startswith(home), f"{name} imports {target}"


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_size(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"
