"""What every scenario gets, and the shared steps: run a worker under a fault, audit the stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lkbus.settings import TopicSettings
from reliability.audit import StreamAudit, audit, read_stream
from reliability.cluster import Cluster
from reliability.fleet import WorkerProcess
from reliability.params import Params
from reliability.report import ScenarioResult
from reliability.worker import WorkerConfig


@dataclass(frozen=True, slots=True)
class Context:
    cluster: Cluster
    params: Params
    folder: Path
    measured: dict[str, Any] = field(default_factory=dict)
    """Figures measured once per suite and shared by scenarios (the no-publisher baseline)."""

    def scratch(self, name: str) -> Path:
        path = self.folder / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(slots=True)
class FaultWindow:
    """When a fault started and ended (wall clock), and how it is described in the table."""

    description: str
    start: float = 0.0
    end: float = 0.0


Fault = Callable[[WorkerProcess], Awaitable[FaultWindow | None]]


def worker_config(ctx: Context, topics: TopicSettings, name: str, **fields: Any) -> WorkerConfig:
    folder = ctx.scratch(name)
    base: dict[str, Any] = {
        "bootstrap": ctx.cluster.kafka.bootstrap_servers,
        "prefix": topics.prefix,
        "partitions": topics.partitions,
        "journal_dir": str(folder / "journal"),
        "session_prefix": name,
        "turn_interval_s": ctx.params.turn_interval_s,
        "seed": ctx.params.seed,
    }
    return WorkerConfig(**{**base, **fields})


async def ensure_broker(ctx: Context) -> None:
    if not ctx.cluster.running:
        await ctx.cluster.start()


def apply_audit(result: ScenarioResult, found: StreamAudit, dropped: int) -> None:
    result.produced = found.produced
    result.delivered = found.delivered
    result.duplicated = found.duplicated
    result.out_of_order = found.out_of_order
    result.dropped_counted = dropped
    result.lost = max(0, found.missing - dropped)
    if dropped:
        result.check(
            "every missing event is a counted drop",
            found.missing == dropped,
            f"{found.missing:,} missing, {dropped:,} counted as dropped",
        )
    if found.examples:
        result.notes.append("examples: " + "; ".join(found.examples))


def describe_load(final: dict[str, Any], sessions: int, interval: float) -> tuple[str, float]:
    seconds = max(final["conversations_s"], 1e-9)
    events = sum(final["seqs"].values())
    rate = events / seconds
    return f"{sessions} sessions × {seconds:.0f} s, ≈{rate:.0f} ev/s", rate


def cpu_notes(final: dict[str, Any]) -> list[str]:
    wall = max(final["wall_s"], 1e-9)
    notes = [
        f"agent-loop stall: largest {final['stall_max_ms']:.0f} ms, p99 {final['stall_p99_ms']:.1f} ms "
        f"({final['ticks']:,} ticks of 10 ms)",
        f"worker process CPU {final['cpu_process_s']:.1f} s over {wall:.0f} s "
        f"({100 * final['cpu_process_s'] / wall:.0f} % of a core)",
        f"{final['turns']:,} turns, {final['turn_errors']} failed",
    ]
    publisher = final.get("cpu_publisher_s")
    if publisher is not None:
        events = max(sum(final["seqs"].values()), 1)
        notes.append(
            f"publisher thread CPU {publisher:.1f} s ({100 * publisher / wall:.1f} % of a core, "
            f"{1e6 * publisher / events:.0f} µs per event)"
        )
    return notes


async def stream_scenario(
    ctx: Context,
    result: ScenarioResult,
    name: str,
    *,
    sessions: int,
    duration_s: float,
    fault: Fault | None,
    **worker_fields: Any,
) -> dict[str, Any]:
    """Run one worker with `sessions` chatty sessions for `duration_s` while `fault` runs; audit."""
    await ensure_broker(ctx)
    topics = await ctx.cluster.topics(name)
    config = worker_config(ctx, topics, name, chatty=sessions, duration_s=duration_s, **worker_fields)
    worker = WorkerProcess(config, ctx.scratch(name) / "worker.log")
    await worker.start()
    window: FaultWindow | None = None
    try:
        if fault is not None:
            window = await fault(worker)
        final = await worker.finish(duration_s + config.drain_timeout_s + 120)
    finally:
        worker.kill()
        await ensure_broker(ctx)
    result.load, _ = describe_load(final, sessions, config.turn_interval_s)
    result.faults = window.description if window is not None else "none"
    stats = final["stats"]
    found = audit(await read_stream(ctx.cluster.kafka, topics), final["seqs"])
    apply_audit(result, found, stats["dropped"])
    result.largest_stall_ms = final["stall_max_ms"]
    result.notes += cpu_notes(final)
    result.notes.append(
        f"publisher: produced {stats['produced']:,}, spilled {stats['spilled']:,}, "
        f"resent {stats['resent']:,}, dropped {stats['dropped']:,}, send errors {stats['send_errors']:,}"
    )
    result.check(
        "everything delivered before the worker stopped (memory buffer and journal empty)",
        bool(final["drained"]),
        f"drained={final['drained']}",
    )
    result.notes.append(
        f"load: {config.chatty + config.goes_away} REAL text-only AgentSessions (fake LLM) in one worker "
        f"process, a user turn every {config.turn_interval_s:g} s ±50 % per session: "
        f"{sum(final['seqs'].values()) / max(final['conversations_s'], 1e-9):.0f} events/s"
    )
    if window is not None and window.end > window.start:
        result.notes.append(
            f"during the fault ({window.end - window.start:.0f} s): largest stall "
            f"{worker.stall_between(window.start, window.end):.0f} ms, "
            f"{worker.turns_between(window.start, window.end):,} turns completed"
        )
    return final


async def sleep_while_running(worker: WorkerProcess, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not worker.exited:  # noqa: ASYNC110 - polls a child process
        await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


async def compare_with_no_publisher(ctx: Context, result: ScenarioResult) -> None:
    """Run (once per suite) the load of scenario 1 with no publisher attached, and set its largest
    stall beside the scenario's: what the agents' own work stalls their loop on this machine."""
    final = ctx.measured.get("no_publisher")
    if final is None:
        p = ctx.params
        await ensure_broker(ctx)
        topics = await ctx.cluster.topics("nopub")
        config = worker_config(
            ctx, topics, "nopub", chatty=p.sessions, duration_s=p.minutes * 60, publish=False
        )
        worker = WorkerProcess(config, ctx.scratch("nopub") / "worker.log")
        await worker.start()
        try:
            final = await worker.finish(config.duration_s + 120)
        finally:
            worker.kill()
        ctx.measured["no_publisher"] = final
    result.no_publisher_stall_ms = final["stall_max_ms"]
    result.notes.append(
        f"the same {ctx.params.sessions} sessions for {final['conversations_s']:.0f} s with no publisher "
        f"attached: largest stall {final['stall_max_ms']:.0f} ms, p99 {final['stall_p99_ms']:.1f} ms, "
        f"{final['turns']:,} turns"
    )
