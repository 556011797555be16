"""Reports over stored summaries and rollups: one row per agent, as a table, JSON or CSV, and a PNG plot.

Latency percentiles pool every session's samples, so they are exact over the range.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from consumers.analytics.exceptions import ReportError
from consumers.analytics.rollups import RollupRow, window_start_of
from consumers.analytics.stats import LatencyStats
from consumers.analytics.summary import LATENCY_KINDS, SessionSummary

Cell = str | int | float | None
ReportRow = dict[str, Cell]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_STATS = ("p50", "p90", "p99", "max")
_BAR = timedelta(seconds=55)


class ReportFormat(StrEnum):
    """Output formats of ``lkbus analytics report``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def parse_time(text: str, *, now: datetime | None = None, option: str = "--since") -> datetime:
    """An ISO 8601 time (UTC when no offset) or a duration back from ``now``: ``90m``, ``2h``, ``7d``."""
    value = text.strip()
    m = _RELATIVE.match(value)
    if m:
        base = now or datetime.now(UTC)
        return base - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError(
            f"{option} {text!r}: expected an ISO time like 2026-01-31T12:00 or a duration like 90m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def agent_rows(summaries: Sequence[SessionSummary]) -> list[ReportRow]:
    """One row per agent name (sorted): counts, durations, closes and pooled latency percentiles."""
    by_agent: dict[str, list[SessionSummary]] = defaultdict(list)
    for s in summaries:
        by_agent[s.agent_name or "unknown"].append(s)
    rows: list[ReportRow] = []
    for agent, group in sorted(by_agent.items()):
        status = Counter(s.status for s in group)
        closes = Counter(s.close_reason or s.status for s in group)
        durations = LatencyStats.of(s.duration for s in group)
        row: ReportRow = {
            "agent": agent,
            "sessions": len(group),
            "ended": status["ended"],
            "idle_timeout": status["idle_timeout"],
            "open": status["open"],
            "duration_p50": durations.p50,
            "duration_max": durations.max,
            "user_turns": sum(s.user_turns for s in group),
            "agent_replies": sum(s.agent_replies for s in group),
            "interruptions": sum(s.interruptions for s in group),
            "false_interruptions": sum(s.false_interruptions for s in group),
            "away_episodes": sum(s.away_episodes for s in group),
            "prompts": sum(s.prompts.issued for s in group),
            "prompts_user_returned": sum(s.prompts.user_returned for s in group),
            "prompts_session_closed": sum(s.prompts.session_closed for s in group),
            "tool_calls": sum(t.calls for s in group for t in s.tool_calls),
            "tool_errors": sum(t.errors for s in group for t in s.tool_calls),
            "errors": sum(e.count for s in group for e in s.errors),
            "closes": ";".join(f"{reason}={n}" for reason, n in sorted(closes.items())),
        }
        for kind in LATENCY_KINDS:
            stats = LatencyStats.of(v for s in group for v in getattr(s.latency, kind).samples)
            for stat in _STATS:
                row[f"{kind}_{stat}"] = getattr(stats, stat)
        rows.append(row)
    return rows


def _fmt(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


_SESSION_COLUMNS = ("sessions", "ended", "idle_timeout", "open", "duration_p50", "duration_max", "closes")
_TURN_COLUMNS = (
    "user_turns",
    "agent_replies",
    "interruptions",
    "false_interruptions",
    "away_episodes",
    "prompts",
    "prompts_user_returned",
    "prompts_session_closed",
    "tool_calls",
    "tool_errors",
    "errors",
)


_LABELS = {
    "idle_timeout": "idle",
    "duration_p50": "dur p50 s",
    "duration_max": "dur max s",
    "user_turns": "turns",
    "agent_replies": "replies",
    "interruptions": "interrupted",
    "false_interruptions": "false int",
    "away_episodes": "away",
    "prompts_user_returned": "returned",
    "prompts_session_closed": "closed",
    "tool_calls": "tools",
    "tool_errors": "tool err",
}


def _table(title: str, rows: Sequence[ReportRow], columns: Sequence[str]) -> Table:
    table = Table(title=title)
    table.add_column("agent")
    for name in columns:
        table.add_column(_LABELS.get(name, name), justify="left" if name == "closes" else "right")
    for row in rows:
        table.add_row(_fmt(row["agent"]), *(_fmt(row[c]) for c in columns))
    return table


def report_tables(rows: Sequence[ReportRow]) -> list[Table]:
    """The report as rich tables: sessions, turns and prompts, latency percentiles."""
    latency = Table(title="Latency (seconds)")
    for name in ("agent", "latency", *_STATS):
        latency.add_column(name, justify="left" if name in {"agent", "latency"} else "right")
    for row in rows:
        for kind in LATENCY_KINDS:
            latency.add_row(_fmt(row["agent"]), kind, *(_fmt(row[f"{kind}_{s}"]) for s in _STATS))
    return [
        _table("Sessions per agent", rows, _SESSION_COLUMNS),
        _table("Turns, prompts (returned / closed), tools and errors", rows, _TURN_COLUMNS),
        latency,
    ]


def render_report(rows: Sequence[ReportRow], fmt: ReportFormat, *, width: int = 120) -> str:
    """The report text: rich tables, a JSON array of rows, or CSV with a header line."""
    if fmt is ReportFormat.JSON:
        return orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt is ReportFormat.CSV:
        buf = io.StringIO()
        columns = list(rows[0]) if rows else ["agent", "sessions"]
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    if not rows:
        return "no sessions in this range\n"
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    for table in report_tables(rows):
        console.print(table)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def plot_report(summaries: Sequence[SessionSummary], rollups: Sequence[RollupRow], path: Path) -> Path:
    """Write a PNG: latency distributions (box plots, ms) and sessions per minute (UTC) over time."""
    if not summaries and not rollups:
        raise ReportError("nothing to plot: no sessions or rollups in this range")
    from matplotlib.figure import Figure  # heavy: loaded only to plot

    fig = Figure(figsize=(11, 8), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    kinds = [k for k in LATENCY_KINDS if any(getattr(s.latency, k).samples for s in summaries)]
    if kinds:
        data = [[v * 1000 for s in summaries for v in getattr(s.latency, k).samples] for k in kinds]
        top.boxplot(data, tick_labels=[k.replace("_", " ") for k in kinds], showfliers=True)
        top.set_ylabel("milliseconds")
    else:
        top.text(0.5, 0.5, "no latency samples", ha="center", va="center", transform=top.transAxes)
    top.set_title("Latency distributions")
    if rollups:
        starts: Counter[datetime] = Counter()
        live: Counter[datetime] = Counter()
        for r in rollups:
            starts[r.window_start] += r.sessions_started
            live[r.window_start] += r.concurrent_sessions
        times = sorted(live)
        bottom.bar(times, [starts[t] for t in times], width=_BAR, align="edge", label="started", alpha=0.6)
        middles = [t + _BAR / 2 for t in times]
        bottom.plot(middles, [live[t] for t in times], marker="o", color="black", label="concurrent")
    else:
        per_minute = Counter(window_start_of(s.started_at) for s in summaries)
        times = sorted(per_minute)
        bottom.bar(times, [per_minute[t] for t in times], width=_BAR, align="edge", label="started")
    bottom.set_title("Sessions per minute")
    bottom.set_ylabel("sessions")
    bottom.legend(loc="upper left")
    bottom.tick_params(axis="x", labelrotation=30)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise ReportError(f"cannot write the plot to {path}: {exc.strerror or exc}") from exc
    return path
