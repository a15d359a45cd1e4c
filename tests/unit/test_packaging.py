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


def _imports(path) -> tuple[set[str], set[str]]:
    """The top-level modules a file imports: at module level, and only inside functions."""
    tree = ast.parse(path.read_text())
    found: dict[bool, set[str]] = {True: set(), False: set()}

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found[in_function].update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found[in_function].add(node.module.split(".")[0])
        nested = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, nested)

    visit(tree, False)
    return found[False], found[True] - found[False]


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    """A module of an optional extra (`pip install 'aladia-etl[notebook]'`, not `dev`) may be imported, inside a
    function only: the package and `aladia --help` work without it, and the command that needs it says so."""
    runtime = {requirement_name(spec) for spec in PROJECT["project"]["dependencies"]}
    optional = {
        requirement_name(spec)
        for extra, specs in PROJECT["project"].get("optional-dependencies", {}).items()
        if extra != "dev"
        for spec in specs
    }
    distributions = packages_distributions()
    at_module_level: set[str] = set()
    in_functions: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        top, nested = _imports(path)
        at_module_level |= top
        in_functions |= nested
    ignore = set(sys.stdlib_module_names) | {"aladia_etl", "__future__"}
    undeclared = {}
    for module in sorted((at_module_level | in_functions) - ignore):
        owners = {name.lower().replace("_", "-") for name in distributions.get(module, [module])}
        allowed = runtime | (optional if module not in at_module_level else set())
        if not owners & allowed:
            undeclared[module] = sorted(owners)
    assert not undeclared, f"imported by aladia_etl but not in [project].dependencies: {undeclared}"
