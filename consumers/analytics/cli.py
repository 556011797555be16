"""`lkbus analytics`: reports and plots over the analytics database (wired into `lkbus.cli`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from consumers.analytics.exceptions import AnalyticsError
from consumers.analytics.report import (
    ReportFormat,
    agent_rows,
    parse_time,
    plot_report,
    render_report,
    report_tables,
)
from consumers.analytics.store import DEFAULT_DB_PATH, DuckDBStore

analytics_app = typer.Typer(
    help="Session summaries and per-minute rollups kept by the analytics consumer.",
    no_args_is_help=True,
)

_out = Console()
_err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[Path, typer.Option("--db", help="The analytics DuckDB file.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="ISO time (UTC if no offset) or a duration back: 90m, 2h, 7d.")
]
UntilOption = Annotated[str | None, typer.Option("--until", help="ISO time or a duration back; exclusive.")]
AgentOption = Annotated[str | None, typer.Option("--agent", help="Only this agent name.")]


def _fail(exc: AnalyticsError) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
    return typer.Exit(1)


def _range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    now = datetime.now(UTC)
    start = None if since is None else parse_time(since, now=now, option="--since")
    end = None if until is None else parse_time(until, now=now, option="--until")
    return start, end


@analytics_app.command("report")
def report_command(
    db: DbOption = DEFAULT_DB_PATH,
    since: SinceOption = None,
    until: UntilOption = None,
    agent: AgentOption = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = ReportFormat.TABLE,
) -> None:
    """Sessions, turns, prompts, closes and latency percentiles per agent."""
    try:
        start, end = _range(since, until)
        with DuckDBStore(db, read_only=True) as store:
            rows = agent_rows(store.sessions(start, end, agent))
    except AnalyticsError as exc:
        raise _fail(exc) from None
    if fmt is ReportFormat.TABLE and rows:
        for table in report_tables(rows):
            _out.print(table)
    else:
        typer.echo(render_report(rows, fmt), nl=False)


@analytics_app.command("plot")
def plot_command(
    db: DbOption = DEFAULT_DB_PATH,
    since: SinceOption = None,
    until: UntilOption = None,
    agent: AgentOption = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The PNG file to write.")] = Path(
        "analytics.png"
    ),
) -> None:
    """Write a PNG of latency distributions and sessions over time."""
    try:
        start, end = _range(since, until)
        with DuckDBStore(db, read_only=True) as store:
            path = plot_report(store.sessions(start, end, agent), store.rollups(start, end, agent), output)
    except AnalyticsError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {path}")
