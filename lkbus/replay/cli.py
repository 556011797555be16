"""`lkbus replay` and `lkbus sessions`: thin typer commands over `replay()` and `sessions()`.

Wire them into the main CLI with `register(app)`; `app` below holds just these two (tests).
Errors print one line and exit 1; SIGINT/SIGTERM stop a replay cleanly (a second SIGINT kills).
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lkbus.errors import LkbusError
from lkbus.gc_tuning import tune_for_batches
from lkbus.replay.exceptions import ReplayOptionError
from lkbus.replay.filters import EventFilter
from lkbus.replay.position import Beginning, End, Position, parse_position
from lkbus.replay.runner import Format, ProgressCallback, ReplayOptions, replay
from lkbus.replay.sessions import SessionsOptions, SessionSummary, sessions
from lkbus.replay.timeline import format_duration
from lkbus.settings import Settings, load_settings

T = TypeVar("T")

PROGRESS_MIN_RECORDS = 10_000
"""Reads shorter than this show no progress bar."""

app = typer.Typer(name="lkbus", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
_err = Console(stderr=True, soft_wrap=True)
_SPEED = re.compile(r"(\d+(?:\.\d+)?)x?")


def parse_speed(text: str) -> float | None:
    """`1`, `10x`, `0.5x` → the factor; `max` → None (as fast as possible)."""
    value = text.strip().lower()
    if value in ("max", "inf", "fastest"):
        return None
    match = _SPEED.fullmatch(value)
    if match is None or float(match.group(1)) <= 0:
        raise ReplayOptionError(
            f"--speed {text!r} is not a speed; use 1 (as recorded), 10x (ten times faster), 0.5x or max"
        )
    return float(match.group(1))


def _fail(message: str) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(1)


def _settings() -> Settings:
    try:
        return load_settings()
    except LkbusError as exc:
        raise _fail(str(exc)) from None


def _run(main: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop`; a `LkbusError` becomes one line and exit 1."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            stop.set()
            loop.remove_signal_handler(sig)  # a second one interrupts for real

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        try:
            return await main(stop)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    try:
        return asyncio.run(runner())
    except LkbusError as exc:
        raise _fail(str(exc)) from None


@contextmanager
def _progress(enabled: bool) -> Iterator[tuple[ProgressCallback | None, TextIO]]:
    """A progress bar on stderr (terminals only) and the stream to write results to.

    When stdout is the same terminal, results go through the bar's console so the two do not
    tear each other; otherwise (a pipe, a file) they go straight to stdout.
    """
    stdout = sys.stdout
    if not (enabled and _err.is_terminal):
        yield None, stdout
        return
    shared = stdout.isatty()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        redirect_stdout=shared,
        redirect_stderr=False,
    )
    task = progress.add_task("records", total=None, visible=False)

    def update(read: int, total: int | None) -> None:
        if total is None or total >= PROGRESS_MIN_RECORDS:
            progress.update(task, completed=read, total=total, visible=True)

    with progress:
        yield update, (sys.stdout if shared else stdout)


def _position(text: str | None, option: str, now: datetime) -> Position | None:
    return None if text is None else parse_position(text, now=now, option=option)


def build_options(
    *,
    start: str | None,
    stop: str | None,
    topics: list[str] | None,
    sessions_: list[str] | None,
    rooms: list[str] | None,
    agents: list[str] | None,
    types: list[str] | None,
    participants: list[str] | None,
    output: Format,
    to_topic: str | None,
    speed: str | None,
    follow: bool,
    count: int | None,
    archive: Path | None,
    now: datetime,
    redact: bool = False,
) -> ReplayOptions:
    """The options of one `lkbus replay` call; bad values raise a `ReplayError` (one line)."""
    if speed is not None and to_topic is None:
        raise ReplayOptionError("--speed paces re-publishing: use it with --to-topic")
    options = ReplayOptions(
        topics=tuple(topics or ()),
        start=_position(start, "--from", now) or (End() if follow else Beginning()),
        stop=_position(stop, "--to", now),
        follow=follow,
        filter=EventFilter(
            sessions=tuple(sessions_ or ()),
            rooms=tuple(rooms or ()),
            agents=tuple(agents or ()),
            types=tuple(types or ()),
            participants=tuple(participants or ()),
        ),
        format=output,
        to_topic=to_topic,
        speed=parse_speed(speed) if speed is not None else 1.0,
        count=count,
        archive=archive,
        redact=redact,
    )
    options.check()
    return options


@app.command("replay")
def replay_command(
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start: beginning, end, an offset (1234, -100, 2:1234), an ISO time or -15m/-2h. "
            "Default: beginning (with --follow: end).",
        ),
    ] = None,
    stop: Annotated[
        str | None,
        typer.Option("--to", help="Stop (same forms; offsets exclusive, times inclusive). Default: end."),
    ] = None,
    topics: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Topic to read (repeat). Default: event topics.")
    ] = None,
    session: Annotated[list[str] | None, typer.Option("--session", "-s", help="Session id glob.")] = None,
    room: Annotated[list[str] | None, typer.Option("--room", help="Room name glob.")] = None,
    agent: Annotated[list[str] | None, typer.Option("--agent", help="Agent name glob.")] = None,
    type_: Annotated[
        list[str] | None, typer.Option("--type", help="Event type glob, e.g. '*user_state*' or close.")
    ] = None,
    participant: Annotated[
        list[str] | None, typer.Option("--participant", help="Participant identity glob.")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="timeline (for people) or jsonl (decoded envelopes).")
    ] = "timeline",
    to_topic: Annotated[
        str | None, typer.Option("--to-topic", help="Re-publish the records to this topic instead.")
    ] = None,
    speed: Annotated[
        str | None,
        typer.Option("--speed", help="Re-publishing pace: 1 (as recorded), 10x, 0.5x or max. Default 1."),
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep reading new records.")] = False,
    count: Annotated[int | None, typer.Option("--count", "-c", min=1, help="Stop after N events.")] = None,
    archive: Annotated[
        Path | None, typer.Option("--from-archive", help="Replay archived files instead of Kafka.")
    ] = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact", help="Timeline to share: hide what was said, show participants as participant-N."
        ),
    ] = False,
) -> None:
    """Replay recorded events between offsets or times: a timeline, JSON Lines, or another topic."""
    if output not in ("timeline", "jsonl"):
        raise _fail(f"--format {output!r} is not a format; use timeline or jsonl")
    s = _settings()
    try:
        options = build_options(
            start=start,
            stop=stop,
            topics=topics,
            sessions_=session,
            rooms=room,
            agents=agent,
            types=type_,
            participants=participant,
            output="jsonl" if output == "jsonl" else "timeline",
            to_topic=to_topic,
            speed=speed,
            follow=follow,
            count=count,
            archive=archive,
            now=datetime.now(UTC),
            redact=redact,
        )
    except LkbusError as exc:
        raise _fail(str(exc)) from None
    tune_for_batches()  # the CLI process is ours (the library's callers are not touched)
    with _progress(enabled=True) as (on_progress, out):
        stats = _run(lambda stop_: replay(s, options, out, on_progress=on_progress, stop=stop_))
    what = f"sent to {options.to_topic}" if options.to_topic else "shown"
    bad = f", {stats.undecodable:,} undecodable" if stats.undecodable else ""
    _err.print(
        f"{stats.shown:,} events {what} of {stats.read:,} records read{bad} in {stats.elapsed_s:.1f} s",
        highlight=False,
        style="dim",
    )


@app.command("sessions")
def sessions_command(
    since: Annotated[
        str, typer.Option("--since", help="Read from: -24h, -15m, an ISO time, beginning, ...")
    ] = "-24h",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many sessions, newest first.")] = 20,
    topics: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Topic to read (repeat). Default: event topics.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
) -> None:
    """Recent sessions: id, agent, room, start, duration, events and close reason."""
    s = _settings()
    try:
        options = SessionsOptions(
            since=parse_position(since, now=datetime.now(UTC), option="--since"),
            limit=limit,
            topics=tuple(topics or ()),
        )
    except LkbusError as exc:
        raise _fail(str(exc)) from None
    tune_for_batches()  # the CLI process is ours (the library's callers are not touched)
    with _progress(enabled=True) as (on_progress, out):
        result = _run(lambda stop_: sessions(s, options, on_progress=on_progress, stop=stop_))
    console = Console(file=out, width=None if out.isatty() else 200)
    if as_json:
        for summary in result.sessions:
            out.write(orjson.dumps(session_json(summary)).decode() + "\n")
        return
    table = Table("session", "agent", "room", "start (UTC)", "duration", "events", "close")
    for summary in result.sessions:
        table.add_row(*session_row(summary))
    console.print(table)
    _err.print(f"{len(result.sessions)} sessions from {result.read:,} records", highlight=False, style="dim")


def session_row(summary: SessionSummary) -> list[str]:
    """The table cells of one session; a start before the window read is marked with `≤`."""
    start = summary.start
    when = "-" if start is None else start.strftime("%Y-%m-%d %H:%M:%S")
    if summary.started_at is None and start is not None:
        when = "≤ " + when
    close = summary.close_reason or ("ended" if summary.ended else "open")
    return [
        summary.session_id,
        summary.agent_name or "-",
        summary.room_name or "-",
        when,
        format_duration(summary.duration_s),
        f"{summary.events:,}",
        close,
    ]


def session_json(summary: SessionSummary) -> dict[str, Any]:
    return {
        "session_id": summary.session_id,
        "agent_name": summary.agent_name,
        "room_name": summary.room_name,
        "started_at": summary.started_at.isoformat() if summary.started_at else None,
        "first_seen": summary.first_seen.isoformat() if summary.first_seen else None,
        "duration_s": summary.duration_s,
        "events": summary.events,
        "close_reason": summary.close_reason,
        "ended": summary.ended,
    }


def register(main_app: typer.Typer) -> None:
    """Add `replay` and `sessions` to the main `lkbus` app."""
    main_app.command("replay")(replay_command)
    main_app.command("sessions")(sessions_command)
