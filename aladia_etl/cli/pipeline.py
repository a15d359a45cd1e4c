"""`aladia pipeline schema|validate|plan`: the pipeline file's JSON Schema, a check of a file against the model and
the live source catalog, and the warehouse DDL it implies."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings, state
from aladia_etl.cli.options import json_flag


def _path():
    from aladia_etl.core.pipeline import locate

    return locate(state.pipeline_option, settings().pipeline)


app = typer.Typer(
    help="The pipeline file (aladia.yaml): its schema, a validation, the warehouse plan.", no_args_is_help=True
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="pipeline")


@app.command("schema")
def schema() -> None:
    """Print the pipeline file's JSON Schema."""
    import json

    from aladia_etl.core.pipeline import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command("validate")
def validate(as_json: bool = json_flag()) -> None:
    """Check the pipeline file against the model and the live source catalog (tables, columns, keys, types)."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.flows.pipeline import validate as run_validate

    report = run_validate(settings(), _path())
    if as_json:
        emit_json(report)
        return
    err.print(f"[green]✓[/green] {report['file']}: valid — {len(report['tables'])} table(s)", highlight=False)
    for table in report["tables"]:
        err.print(
            f"  {table['source']} → {table['target']} ({table['kind']}, key {', '.join(table['key'])})", markup=False
        )
    for warning in report["warnings"]:
        err.print(f"[yellow]![/yellow] {warning}", highlight=False)


@app.command("plan")
def plan(as_json: bool = json_flag()) -> None:
    """Print the warehouse DDL the pipeline implies against the current warehouse (nothing is changed)."""
    from aladia_etl.cli.render import emit_json, err, out
    from aladia_etl.flows.pipeline import plan as run_plan

    changes = run_plan(settings(), _path())
    if as_json:
        emit_json([c.as_dict() for c in changes])
        return
    if not changes:
        err.print("[green]✓[/green] the warehouse matches the pipeline; nothing to change")
        return
    for change in changes:
        flag = " (destructive: needs --allow-destructive)" if change.destructive else ""
        out.print(
            f"-- {change.action} {change.table}{': ' + change.detail if change.detail else ''}{flag}", markup=False
        )
        for statement in change.sql:
            out.print(statement + ";", markup=False, highlight=False)
