"""`lkbus archive`: what the archive holds, restore it into a topic, prune it (wired into `lkbus.cli`)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from consumers.archival.exceptions import ArchiveOptionError
from consumers.archival.reader import TopicSummary, summarize
from consumers.archival.restore import RestoreStats, restore
from consumers.archival.service import prune
from consumers.archival.settings import archival_settings
from consumers.archival.storage import ArchiveRoot
from lkbus.errors import LkbusError
from lkbus.settings import load_settings

archive_app = typer.Typer(
    help="Archived records (the archival consumer's files): list, restore into a topic, prune.",
    no_args_is_help=True,
)

_out = Console()
_err = Console(stderr=True, soft_wrap=True)

RootOption = Annotated[
    str | None, typer.Option("--root", help="Archive folder or fsspec URL (default: LKBUS_ARCHIVAL__ROOT).")
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="ISO time (UTC if no offset) or a duration back: 90m, 2h, 7d.")
]
UntilOption = Annotated[str | None, typer.Option("--until", help="ISO time or a duration back; exclusive.")]
SessionOption = Annotated[str | None, typer.Option("--session", help="Only the records of this session id.")]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, *, now: datetime, option: str) -> datetime:
    """An ISO time (UTC when it names no offset) or a duration back from `now` (90m, 2h, 7d)."""
    match = _DURATION.match(text.strip())
    if match is not None:
        return now - timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ArchiveOptionError(
            f"{option} {text!r} is neither an ISO time (2026-05-01T12:00) nor a duration (90m, 2h, 7d)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    now = datetime.now(UTC)
    start = None if since is None else parse_time(since, now=now, option="--since")
    end = None if until is None else parse_time(until, now=now, option="--until")
    if start is not None and end is not None and start >= end:
        raise ArchiveOptionError(f"--since {since} is not before --until {until}; swap them")
    return start, end


def _root(root: str | None) -> str:
    return root if root is not None else archival_settings().root


def _fail(exc: LkbusError) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
    return typer.Exit(1)


def _iso(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _as_json(s: TopicSummary) -> dict[str, object]:
    return {
        "topic": s.topic,
        "partitions": sorted(s.partitions),
        "files": s.files,
        "bytes": s.size,
        "records": s.records,
        "invalid": s.invalid,
        "sessions": len(s.sessions),
        "first": _iso(s.first_ms),
        "last": _iso(s.last_ms),
    }


@archive_app.command("ls")
def ls_command(
    root: RootOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    session: SessionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per topic.")] = False,
) -> None:
    """What is archived, per topic: time range, sessions, records (and invalid ones), files, bytes."""
    try:
        start, end = _range(since, until)
        summaries = summarize(_root(root), since=start, until=end, session=session)
    except LkbusError as exc:
        raise _fail(exc) from None
    if as_json:
        for summary in summaries:
            _out.print(json.dumps(_as_json(summary)), highlight=False, markup=False, soft_wrap=True)
        return
    if not summaries:
        _out.print("nothing archived matches", highlight=False)
        return
    _out.print(archive_table(summaries))


def archive_table(summaries: list[TopicSummary]) -> Table:
    """The `lkbus archive ls` table."""
    table = Table("topic", "from", "to", "sessions", "records", "invalid", "partitions", "files", "bytes")
    for s in summaries:
        table.add_row(
            s.topic,
            _iso(s.first_ms),
            _iso(s.last_ms),
            f"{len(s.sessions):,}",
            f"{s.records:,}",
            f"{s.invalid:,}",
            str(len(s.partitions)),
            f"{s.files:,}",
            f"{s.size:,}",
        )
    return table


@archive_app.command("restore")
def restore_command(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Archive folder, URL, subfolder or file (default: the root)."),
    ] = None,
    to_topic: Annotated[str, typer.Option("--to-topic", help="Topic to re-publish into (must exist).")] = "",
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="Only records archived from this topic (repeatable).")
    ] = None,
    session: SessionOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    by_key: Annotated[
        bool, typer.Option("--by-key", help="Partition by key instead of keeping each record's partition.")
    ] = False,
) -> None:
    """Re-publish archived records with their keys, headers and timestamps, each partition in order."""
    try:
        if not to_topic:
            raise ArchiveOptionError("--to-topic is required: the topic to re-publish into")
        start, end = _range(since, until)
        settings = load_settings()
        path = str(source) if source is not None else _root(None)
        with Progress(
            TextColumn("restoring"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[sent]:,} records"),
            TimeRemainingColumn(),
            console=_err,
            transient=True,
        ) as progress:
            task = progress.add_task("restore", total=None, sent=0)

            def advance(stats: RestoreStats) -> None:
                progress.update(task, total=stats.total_bytes, completed=stats.read_bytes, sent=stats.sent)

            stats = asyncio.run(
                restore(
                    settings.kafka,
                    path,
                    to_topic,
                    topics=topic,
                    since=start,
                    until=end,
                    session=session,
                    keep_partitions=not by_key,
                    on_progress=advance,
                )
            )
    except LkbusError as exc:
        raise _fail(exc) from None
    _out.print(f"restored {stats.sent:,} records from {stats.files:,} files into {to_topic}", highlight=False)


@archive_app.command("prune")
def prune_command(
    older_than: Annotated[float, typer.Option("--older-than", min=0, help="Delete hours older than N days.")],
    root: RootOption = None,
) -> None:
    """Delete archive files whose hour ended more than N days ago (what retention_days does)."""
    try:
        removed = prune(ArchiveRoot(_root(root)), datetime.now(UTC) - timedelta(days=older_than))
    except LkbusError as exc:
        raise _fail(exc) from None
    _out.print(f"removed {removed:,} files", highlight=False)
