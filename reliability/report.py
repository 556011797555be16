"""Scenario results, their verdict, and the table (rich on the terminal, Markdown in docs/)."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rich.console import Console
from rich.table import Table


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_RUN = "NOT RUN"


@dataclass(frozen=True, slots=True)
class Check:
    """One extra property a scenario verifies (archive exactly once, dead letters, ...)."""

    name: str
    ok: bool
    detail: str

    def render(self) -> str:
        return f"{'ok' if self.ok else 'FAILED'}: {self.name} ({self.detail})"


@dataclass(slots=True)
class ScenarioResult:
    """What one scenario measured. Event figures are about the agents' event stream, by session + seq."""

    name: str
    load: str = ""
    faults: str = ""
    produced: int = 0
    delivered: int = 0
    lost: int = 0
    """Produced events that are neither in Kafka nor counted as dropped by the publisher."""
    duplicated: int = 0
    out_of_order: int = 0
    dropped_counted: int = 0
    """Events the publisher dropped and counted (only when its journal's disk budget is full)."""
    largest_stall_ms: float | None = None
    no_publisher_stall_ms: float | None = None
    """The largest stall of the same sessions with no publisher attached, when measured."""
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_run_reason: str | None = None
    error: str | None = None
    duration_s: float = 0.0

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def verdict(self) -> Verdict:
        if self.not_run_reason is not None:
            return Verdict.NOT_RUN
        if self.error is not None:
            return Verdict.FAIL
        if self.lost or self.duplicated or self.out_of_order:
            return Verdict.FAIL
        if any(not c.ok for c in self.checks):
            return Verdict.FAIL
        return Verdict.PASS


def exit_code(results: Sequence[ScenarioResult]) -> int:
    """1 when any scenario failed (lost, duplicated, reordered, a failed check or an error), else 0."""
    return 1 if any(r.verdict is Verdict.FAIL for r in results) else 0


COLUMNS = (
    "Scenario",
    "Load",
    "Faults injected",
    "Produced",
    "Delivered",
    "Lost",
    "Duplicated",
    "Out of order",
    "Dropped (counted)",
    "Largest agent-loop stall",
    "Result",
)


def _stall(ms: float | None, without: float | None = None) -> str:
    if ms is None:
        return "–"
    return f"{ms:.0f} ms" if without is None else f"{ms:.0f} ms ({without:.0f} ms without publisher)"


def row(result: ScenarioResult) -> list[str]:
    """The table cells of one scenario."""
    if result.not_run_reason is not None:
        return [result.name, result.load, result.faults, *(["–"] * 7), f"NOT RUN: {result.not_run_reason}"]
    return [
        result.name,
        result.load,
        result.faults,
        f"{result.produced:,}",
        f"{result.delivered:,}",
        f"{result.lost:,}",
        f"{result.duplicated:,}",
        f"{result.out_of_order:,}",
        f"{result.dropped_counted:,}",
        _stall(result.largest_stall_ms, result.no_publisher_stall_ms),
        result.verdict.value,
    ]


def details(result: ScenarioResult) -> list[str]:
    """Checks, notes and the error of a scenario, one line each."""
    lines = [c.render() for c in result.checks] + list(result.notes)
    if result.error is not None:
        lines.append(f"error: {result.error}")
    return lines


def print_table(results: Sequence[ScenarioResult], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="livekit-eventbus reliability", show_lines=True)
    for name in COLUMNS:
        table.add_column(name, overflow="fold")
    for result in results:
        cells = row(result)
        style = {"PASS": "green", "FAIL": "bold red"}.get(result.verdict.value, "yellow")
        table.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/{style}]")
    console.print(table)
    for result in results:
        lines = details(result)
        if lines:
            console.print(f"[bold]{result.name}[/bold]")
            for line in lines:
                console.print(f"  - {line}", markup=False, highlight=False)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    results: Sequence[ScenarioResult],
    *,
    when: datetime,
    parameters: dict[str, object],
    cores: int,
    command: str,
) -> str:
    """The latest run as a Markdown page."""
    lines = [
        "# Reliability: the latest run",
        "",
        f"Written by `{command}` on {when:%Y-%m-%d %H:%M %Z} — {cores} cores ({platform.machine()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}).",
        "",
        "Parameters: " + ", ".join(f"`{k}={v}`" for k, v in parameters.items()) + ".",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row(r)) + " |" for r in results]
    lines += [
        "",
        "*Lost*: produced (by session + seq, 1..N per session) but neither in Kafka nor counted as dropped "
        "by the publisher. *Duplicated*: a session + seq found more than once. *Out of order*: a record "
        "whose seq is lower than one before it in the same topic partition and session. *Dropped "
        "(counted)*: events the publisher dropped because the journal's disk budget was full, and counted. "
        "*Largest agent-loop stall*: the largest lateness of a 10 ms ticker on the agents' event loop; "
        "in brackets, the same sessions run as long with no publisher attached (scenario 1's load).",
        "",
        "## Details",
        "",
    ]
    for result in results:
        lines.append(f"### {result.name} — {result.verdict.value} ({result.duration_s:.0f} s)")
        lines.append("")
        lines += [f"- {_md_cell(line)}" for line in details(result)] or ["- (no extra checks)"]
        lines.append("")
    return "\n".join(lines)
