"""`aladia notebook`: a Jupyter notebook over the warehouse, written and executed headless.

    from aladia_etl.flows.notebook import build_and_run
    result = build_and_run(settings, Path("out.ipynb"), bench=Path("bench.json"))
    result.path, result.cells, result.images, result.sections

`cells` builds the notebook (pure), `bench` reads and checks a bench result, `run` executes it in a kernel of this
interpreter (needs the `notebook` extra: nbclient, nbformat, ipykernel, matplotlib)."""

from aladia_etl.flows.notebook.run import NotebookResult, build_and_run

__all__ = ["NotebookResult", "build_and_run"]
