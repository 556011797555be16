"""Scenarios 1-4 and 8: the publisher under load, Kafka away, the broker killed, the worker killed,
the journal's disk budget full."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import orjson

from producers.journal import read_segment
from reliability.audit import audit, read_stream
from reliability.fleet import WorkerProcess
from reliability.report import ScenarioResult
from reliability.scenarios.base import (
    Context,
    FaultWindow,
    apply_audit,
    compare_with_no_publisher,
    cpu_notes,
    ensure_broker,
    sleep_while_running,
    stream_scenario,
    worker_config,
)


async def _broker_away(ctx: Context, worker: WorkerProcess, lead_s: float, description: str) -> FaultWindow:
    """After `lead_s`, stop the broker cleanly for `outage_s`, then start it again."""
    await sleep_while_running(worker, lead_s)
    window = FaultWindow(description)
    window.start = time.time()
    await asyncio.to_thread(ctx.cluster.stop)
    await sleep_while_running(worker, ctx.params.outage_s)
    await ctx.cluster.start()
    window.end = time.time()
    return window


async def load(ctx: Context) -> ScenarioResult:
    """1. Many sessions in one worker process, no fault: everything delivered, in order."""
    p = ctx.params
    result = ScenarioResult("1. Load")
    final = await stream_scenario(
        ctx, result, "load", sessions=p.sessions, duration_s=p.minutes * 60, fault=None
    )
    result.check("no event dropped", final["stats"]["dropped"] == 0, f"{final['stats']['dropped']} dropped")
    await compare_with_no_publisher(ctx, result)
    return result


async def kafka_outage(ctx: Context) -> ScenarioResult:
    """2. The broker stopped (cleanly) for `outage_s` during the load, then started again."""
    p = ctx.params
    result = ScenarioResult("2. Kafka outage")

    async def fault(worker: WorkerProcess) -> FaultWindow:
        return await _broker_away(
            ctx, worker, p.fault_lead_s, f"broker stopped (SIGTERM) for {p.outage_s:.0f} s, then restarted"
        )

    final = await stream_scenario(
        ctx,
        result,
        "outage",
        sessions=p.sessions,
        duration_s=2 * p.fault_lead_s + p.outage_s,
        fault=fault,
    )
    stats = final["stats"]
    result.check("events spilled while Kafka was away", stats["spilled"] > 0, f"{stats['spilled']:,} spilled")
    result.check("no event dropped", stats["dropped"] == 0, f"{stats['dropped']} dropped")
    await compare_with_no_publisher(ctx, result)
    return result


async def broker_killed(ctx: Context) -> ScenarioResult:
    """3. The broker SIGKILLed during production, then started again on the same data."""
    p = ctx.params
    result = ScenarioResult("3. Broker killed")

    async def fault(worker: WorkerProcess) -> FaultWindow:
        await sleep_while_running(worker, p.fault_lead_s)
        window = FaultWindow("broker SIGKILLed mid-production, restarted at once (log recovery)")
        window.start = time.time()
        await asyncio.to_thread(ctx.cluster.kill)
        await ctx.cluster.start()
        window.end = time.time()
        window.description += f" — away {window.end - window.start:.0f} s"
        return window

    final = await stream_scenario(
        ctx, result, "brokerkill", sessions=p.sessions, duration_s=2 * p.fault_lead_s + 15, fault=fault
    )
    result.check("no event dropped", final["stats"]["dropped"] == 0, f"{final['stats']['dropped']} dropped")
    await compare_with_no_publisher(ctx, result)
    return result


async def disk_full(ctx: Context) -> ScenarioResult:
    """8. Kafka away and a 64 KiB journal budget: the agents keep running, drops are counted."""
    p = ctx.params
    result = ScenarioResult("8. Journal disk full")
    budget = 1 << 16

    async def fault(worker: WorkerProcess) -> FaultWindow:
        return await _broker_away(
            ctx,
            worker,
            p.fault_lead_s / 2,
            f"broker stopped for {p.outage_s:.0f} s with a {budget // 1024} KiB journal budget",
        )

    final = await stream_scenario(
        ctx,
        result,
        "diskfull",
        sessions=p.crash_sessions,
        duration_s=p.fault_lead_s + p.outage_s,
        fault=fault,
        journal_max_bytes=budget,
        send_timeout_s=1.0,
    )
    stats = final["stats"]
    result.check("drops happened and were counted", stats["dropped"] > 0, f"{stats['dropped']:,} dropped")
    result.check(
        "the agents kept running",
        final["turn_errors"] == 0 and final["turns"] > 0,
        f"{final['turns']:,} turns, {final['turn_errors']} failed",
    )
    return result


def journaled(folder: Path) -> tuple[dict[str, set[int]], int]:
    """What a journal folder holds (past each segment's saved position): seqs per session, torn records."""
    found: dict[str, set[int]] = defaultdict(set)
    torn = 0
    for segment in sorted(folder.glob("seg-*.journal")):
        records, skipped = read_segment(segment)
        torn += skipped
        position = segment.with_suffix(".pos")
        start = int(position.read_text()) if position.exists() else 0
        for record in records[start:]:
            body = orjson.loads(record.value)
            found[body["session_id"]].add(body["seq"])
    return found, torn


async def worker_crash(ctx: Context) -> ScenarioResult:
    """4. The worker SIGKILLed while spilling; the next worker on the same journal sends it."""
    p = ctx.params
    result = ScenarioResult("4. Worker crash")
    await ensure_broker(ctx)
    topics = await ctx.cluster.topics("crash")
    first = worker_config(
        ctx, topics, "crash", chatty=p.crash_sessions, duration_s=3600, send_timeout_s=1.0, drain_timeout_s=5
    )
    journal = Path(first.journal_dir)
    worker = WorkerProcess(first, ctx.scratch("crash") / "worker-1.log")
    await worker.start()
    try:
        await worker.wait_until("traffic", lambda s: s["stats"]["produced"] > 0, timeout=60)
        await sleep_while_running(worker, p.fault_lead_s / 2)
        await asyncio.to_thread(ctx.cluster.stop)
        target = 100 * p.crash_sessions // 16
        await worker.wait_until(
            "spilling", lambda s: s["stats"]["spilled"] >= target and s["stats"]["journal_bytes"] > 0, 120
        )
        await asyncio.sleep(2)
        reported = worker.latest["events"]
        worker.kill()
        await worker.wait_killed()
    finally:
        worker.kill()
    on_disk, torn = journaled(journal)
    await ctx.cluster.start()
    second = first.model_copy(
        update={"session_prefix": "crash-next", "chatty": 2, "duration_s": 5.0, "drain_timeout_s": 180.0}
    )
    restarted = WorkerProcess(second, ctx.scratch("crash") / "worker-2.log")
    await restarted.start()
    try:
        final = await restarted.finish(300)
    finally:
        restarted.kill()
    seen = await read_stream(ctx.cluster.kafka, topics)
    in_kafka: dict[str, int] = defaultdict(int)
    for record in seen:
        in_kafka[record.session] = max(in_kafka[record.session], record.seq)
    crashed = {s: max(max(on_disk.get(s, {0})), in_kafka.get(s, 0)) for s in set(on_disk) | set(in_kafka)}
    crashed = {s: n for s, n in crashed.items() if s.startswith("crash-c")}
    expected = {**crashed, **final["seqs"]}
    found = audit(seen, expected)
    apply_audit(result, found, final["stats"]["dropped"])
    journal_records = sum(len(v) for v in on_disk.values())
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for record in seen:
        counts[(record.session, record.seq)] += 1
    resent_once = sum(1 for s, seqs in on_disk.items() for q in seqs if counts[(s, q)] == 1)
    result.load = f"{p.crash_sessions} text sessions, a turn / {p.turn_interval_s:g} s ±50 %"
    result.faults = "broker stopped, worker SIGKILLed while spilling, broker and a new worker started"
    result.largest_stall_ms = final["stall_max_ms"]
    result.check(
        "the killed worker's journal was sent by the next one, each record once",
        journal_records > 0 and resent_once == journal_records,
        f"{journal_records:,} journaled records at the kill, {resent_once:,} in Kafka exactly once, "
        f"{torn} torn record(s) skipped",
    )
    result.check("the journal drained", bool(final["drained"]), f"drained={final['drained']}")
    died = reported - sum(crashed.values())
    result.notes.append(
        f"the killed worker had made ≈{reported:,} events at its last report; every one up to the last "
        f"journaled seq of each session is in Kafka; ≈{max(died, 0):,} made after that report or not yet "
        "written to the journal died with the process (by design: only the journal survives a SIGKILL)"
    )
    result.notes += cpu_notes(final)
    return result
