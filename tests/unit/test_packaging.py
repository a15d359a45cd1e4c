"""What a `pip install aladia-etl` (not editable) carries: every data file the package reads is declared package
data, and every third-party module the package imports is a declared runtime dependency (not only a dev one)."""

from __future__ import annotations

import ast
import sys
import tomllib
from fnmatch import fnmatch
from importlib.metadata import packages_distributions

from tests.helpers import REPO

PACKAGE = REPO / "aladia_etl"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def requirement_name(spec: str) -> str:
    name = spec
    for stop in "[<>=!~; ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def test_every_data_file_of_the_package_is_declared_package_data() -> None:
    globs = PROJECT["tool"]["setuptools"]["package-data"]["aladia_etl"]
    data = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    ]
    assert data, "the package has data files (migrations, the built-in model)"
    missing = [name for name in data if not any(fnmatch(name, glob) for glob in globs)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    runtime = {requirement_name(spec) for spec in PROJECT["project"]["dependencies"]}
    distributions = packages_distributions()
    imported: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"aladia_etl", "__future__"}
    undeclared = {}
    for module in sorted(third_party):
        owners = {name.lower().replace("_", "-") for name in distributions.get(module, [module])}
        if not owners & runtime:
            undeclared[module] = sorted(owners)
    assert not undeclared, f"imported by aladia_etl but not in [project].dependencies: {undeclared}"
