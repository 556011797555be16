"""`lkbus schemas`: write the committed JSON Schemas and AsyncAPI document, check drift and compatibility."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

schemas_app = typer.Typer(help="The versioned event schemas.", no_args_is_help=True)
_out = Console()
_err = Console(stderr=True, soft_wrap=True)


@schemas_app.command("export")
def export_command(
    dest: Annotated[
        Path | None, typer.Option(help="Folder to write to (default: the schemas package).")
    ] = None,
) -> None:
    """Write one JSON Schema per type and version, and asyncapi.json, from the models."""
    from schemas.export import SCHEMAS_ROOT, export_json_schemas

    written = export_json_schemas(dest or SCHEMAS_ROOT)
    _out.print(f"{len(written)} documents written under {dest or SCHEMAS_ROOT}", highlight=False)


@schemas_app.command("check")
def check_command(
    mode: Annotated[str, typer.Option(help="BACKWARD (the project's policy), FORWARD or FULL.")] = "BACKWARD",
    root: Annotated[
        Path | None, typer.Option(help="Committed schemas to check (default: the package's).")
    ] = None,
) -> None:
    """Fail when the committed schemas drift from the models or break the compatibility policy."""
    from schemas.compatibility import CompatibilityMode, check_committed_schemas
    from schemas.export import SCHEMAS_ROOT, schema_drift

    try:
        chosen = CompatibilityMode[mode.upper()]
    except KeyError:
        _err.print(f"[bold red]error:[/] unknown mode {mode!r}: use BACKWARD, FORWARD or FULL")
        raise typer.Exit(1) from None
    problems = [f"drift: {p}" for p in schema_drift(root or SCHEMAS_ROOT)]
    for pair, issues in check_committed_schemas(root, mode=chosen).items():
        problems += [f"{pair}: {issue}" for issue in issues]
    for problem in problems:
        _err.print(problem, highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    _out.print(f"schemas match the models and every version is {chosen.name} compatible", highlight=False)


@schemas_app.command("asyncapi")
def asyncapi_command() -> None:
    """Print the AsyncAPI 3 document of the topics and messages."""
    from schemas import asyncapi_document

    print(json.dumps(asyncapi_document(), indent=2))
