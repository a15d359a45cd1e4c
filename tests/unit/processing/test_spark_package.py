"""The zip shipped to a Spark cluster's executors holds everything an executor loads — modules and data files."""

import subprocess
import sys
import zipfile

from aladia_etl.core.settings import Settings
from aladia_etl.processing.spark.session import package_zip


def test_the_zip_holds_the_builtin_model_and_migrations_and_no_bytecode(tmp_path):
    target = package_zip(Settings(data_dir=tmp_path))
    names = zipfile.ZipFile(target).namelist()
    assert "aladia_etl/warehouse/models/orders.yaml" in names
    assert any(n.startswith("aladia_etl/warehouse/sql/") and n.endswith(".sql") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_an_executor_importing_only_from_the_zip_compiles_the_builtin_pipeline(tmp_path):
    target = package_zip(Settings(data_dir=tmp_path))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import aladia_etl\n"
        "assert aladia_etl.__file__.startswith(sys.argv[1]), aladia_etl.__file__\n"
        "from aladia_etl.warehouse.mappers import builtin_mappers\n"
        "print(len(builtin_mappers().sinks))\n"
    )
    # -S keeps the installed (editable) aladia_etl off the path: only the zip provides it
    # -S: the installed (editable) aladia_etl's path hook is not loaded; its dependencies come from site-packages
    site = [p for p in sys.path if p.endswith("site-packages")]
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {site!r}\n" + code, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 0
