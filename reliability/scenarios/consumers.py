"""Scenarios 5 and 6: the inactivity, analytics and archival consumers SIGKILLed at random points,
or joined and left by a second instance, while REAL sessions talk, go away and get closed."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from consumers.analytics.service import AnalyticsConsumer
from consumers.analytics.store import DuckDBStore
from consumers.inactivity.service import InactivityConsumer
from consumers.runtime import ConsumerService, EventConsumer
from lkbus.broker.ephemeral import free_port
from lkbus.settings import AnalyticsSettings, ConsumerSettings, InactivitySettings, Settings, TopicSettings
from lkbus.topic_reader import read_topics
from reliability.audit import audit, read_stream
from reliability.cluster import track, untrack
from reliability.fleet import WorkerProcess
from reliability.report import ScenarioResult
from reliability.scenarios.base import Context, apply_audit, cpu_notes, ensure_broker, worker_config
from schemas import DecodeError, decode
from schemas.payloads.commands_v1 import CommandExecutedV1, CommandRejectedV1

MAX_PROMPTS = 2
ARCHIVAL_MISSING = "consumers.archival is not in this checkout"


def archival_available() -> bool:
    return importlib.util.find_spec("consumers.archival.service") is not None


@dataclass(frozen=True, slots=True)
class Setup:
    settings: Settings
    archive_root: Path
    folder: Path

    @property
    def db(self) -> Path:
        return self.settings.analytics.db_path

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "LKBUS_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
            "LKBUS_TOPICS__PREFIX": s.topics.prefix,
            "LKBUS_TOPICS__PARTITIONS": str(s.topics.partitions),
            "LKBUS_CONSUMER__GROUP_PREFIX": s.consumer.group_prefix,
            "LKBUS_CONSUMER__SESSION_TIMEOUT_MS": str(s.consumer.session_timeout_ms),
            "LKBUS_CONSUMER__FETCH_MAX_WAIT_MS": str(s.consumer.fetch_max_wait_ms),
            "LKBUS_CONSUMER__MAX_BATCH": str(s.consumer.max_batch),
            "LKBUS_INACTIVITY__PROMPT_INTERVAL_S": str(s.inactivity.prompt_interval_s),
            "LKBUS_INACTIVITY__MAX_PROMPTS": str(s.inactivity.max_prompts),
            "LKBUS_INACTIVITY__TICK_S": str(s.inactivity.tick_s),
            "LKBUS_INACTIVITY__COMMAND_TTL_S": str(s.inactivity.command_ttl_s),
            "LKBUS_ANALYTICS__DB_PATH": str(s.analytics.db_path),
            "LKBUS_ARCHIVAL__ROOT": str(self.archive_root),
            "LKBUS_ARCHIVAL__MAX_RECORDS": "400",
            "LKBUS_ARCHIVAL__MAX_AGE_S": "1",
            "LKBUS_ARCHIVAL__TICK_S": "0.2",
        }


def setup(ctx: Context, topics: TopicSettings, name: str) -> Setup:
    folder = ctx.scratch(name)
    settings = Settings(
        kafka=ctx.cluster.kafka,
        topics=topics,
        consumer=ConsumerSettings(
            group_prefix=f"{topics.prefix}g.",
            session_timeout_ms=3000,
            fetch_max_wait_ms=50,
            max_batch=100,
            retry_backoff_s=0.05,
        ),
        inactivity=InactivitySettings(
            prompt_interval_s=1.5, max_prompts=MAX_PROMPTS, tick_s=0.1, command_ttl_s=20
        ),
        # The analytics defaults (end grace 5 s, 60 s windows, 30 s lateness): only the file differs.
        analytics=AnalyticsSettings(db_path=folder / "analytics.duckdb"),
    )
    return Setup(settings, folder / "archive", folder)


def consumer_classes() -> dict[str, Callable[[Setup], EventConsumer]]:
    found: dict[str, Callable[[Setup], EventConsumer]] = {
        "inactivity": lambda _: InactivityConsumer(),
        "analytics": lambda _: AnalyticsConsumer(),
    }
    if archival_available():
        from consumers.archival import ArchivalConsumer, ArchivalSettings

        found["archival"] = lambda s: ArchivalConsumer(
            ArchivalSettings(root=str(s.archive_root), max_records=400, max_age_s=1, tick_s=0.2)
        )
    return found


TARGETS = {
    "inactivity": "inactivity",
    "analytics": "analytics",
    "archival": "consumers.archival.service:ArchivalConsumer",
}


class ConsumerProcess:
    """`python -m lkbus consume NAME` as a child process, SIGKILLed and started again at will."""

    def __init__(self, name: str, setup: Setup) -> None:
        self.name = name
        self.setup = setup
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.starts = 0
        self.health_port = free_port()

    def start(self) -> None:
        with open(self.setup.folder / f"{self.name}.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lkbus", "consume", TARGETS[self.name]],
                env={**self.setup.env(), "LKBUS_CONSUMER__HEALTH_PORT": str(self.health_port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        track(self.process)
        self.starts += 1

    def kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
                self.kills += 1
            self.process.wait()
            untrack(self.process)

    def ready(self) -> bool:
        """The running instance has its partitions (`/readyz`) and no lag left (`/metrics`)."""
        try:
            base = f"http://127.0.0.1:{self.health_port}"
            if httpx.get(f"{base}/readyz", timeout=2).status_code != 200:
                return False
            metrics = httpx.get(f"{base}/metrics", timeout=2).text
        except httpx.HTTPError:
            return False
        lags = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("lkbus_consumer_lag{")
        ]
        return sum(lags) == 0

    def terminate(self, timeout: float = 60) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        untrack(self.process)
        return code


def fleet_config(ctx: Context, topics: TopicSettings, name: str) -> Any:
    p = ctx.params
    half = max(1, p.crash_sessions // 2)
    return worker_config(
        ctx,
        topics,
        name,
        chatty=p.crash_sessions - half,
        goes_away=half,
        duration_s=p.consumer_minutes * 60,
        turn_interval_s=2.0,
        away_timeout_s=1.0,
        close_wait_s=90.0,
        commands=True,
    )


async def wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.5)
    return False


def summaries_in(db: Path) -> int:
    with contextlib.suppress(Exception), DuckDBStore(db, read_only=True) as store:
        return len(store.sessions())
    return 0


def stored(db: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    for _ in range(100):
        try:
            with DuckDBStore(db, read_only=True) as store:
                return (
                    [s.model_dump(mode="json") for s in store.sessions()],
                    [r.model_dump(mode="json") for r in store.rollups()],
                )
        except Exception:  # noqa: BLE001 - a writer holds the file for a moment
            time.sleep(0.1)
    raise RuntimeError(f"the analytics store {db} stayed locked")


def archived(root: Path) -> Counter[tuple[str, int, int]]:
    from consumers.archival import iter_archived

    if not root.exists():
        return Counter()
    return Counter((r.topic, r.partition, r.offset) for r in iter_archived(root))


async def event_records(setup: Setup) -> dict[tuple[str, int, int], bytes]:
    s = setup.settings
    records = await read_topics(s.kafka, list(s.topics.event_topics), timeout_s=300)
    return {(r.topic, r.partition, r.offset): r.value or b"" for r in records}


async def clean_analytics(setup: Setup, sessions: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The analytics of an undisturbed run over the same topics (its own group and database)."""
    settings = setup.settings.model_copy(
        update={
            "consumer": setup.settings.consumer.model_copy(
                update={"group_prefix": setup.settings.consumer.group_prefix + "clean."}
            ),
            "analytics": setup.settings.analytics.model_copy(
                update={"db_path": setup.folder / "analytics-clean.duckdb"}
            ),
        }
    )
    consumer = AnalyticsConsumer()
    service = ConsumerService(consumer, settings)
    await service.start()
    try:
        await wait_for("the clean analytics run", lambda: consumer.summaries_written >= sessions, 180)
        await asyncio.sleep(settings.analytics.end_grace_s + 1.5)
    finally:
        await service.stop()
    return stored(settings.analytics.db_path)


DELIVERY_FIELDS = frozenset({"duplicates"})
"""Summary fields about delivery, not about the session: records delivered again (a rebalance,
a restart) and dropped as duplicates are expected here and absent from a clean run."""


def compare_analytics(
    got: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    expected: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> str:
    """What differs, by session id and by (agent, window), field names only."""
    summaries = {s["session_id"]: s for s in got[0]}
    clean = {s["session_id"]: s for s in expected[0]}
    fields: Counter[str] = Counter()
    for sid in summaries.keys() & clean.keys():
        fields.update(
            k for k in clean[sid] if k not in DELIVERY_FIELDS and summaries[sid].get(k) != clean[sid][k]
        )
    rows = {(r["agent_name"], r["window_start"]): r for r in got[1]}
    clean_rows = {(r["agent_name"], r["window_start"]): r for r in expected[1]}
    row_fields: Counter[str] = Counter()
    counts: list[str] = []
    for key in sorted(rows.keys() & clean_rows.keys()):
        differing = [k for k in clean_rows[key] if rows[key].get(k) != clean_rows[key][k]]
        row_fields.update(differing)
        counts += [
            f"{k} {rows[key][k]} vs {clean_rows[key][k]}"
            for k in differing
            if isinstance(clean_rows[key][k], int)
        ]
    differ = sum(
        1
        for sid in summaries.keys() & clean.keys()
        if any(summaries[sid].get(k) != v for k, v in clean[sid].items() if k not in DELIVERY_FIELDS)
    )
    text = (
        f"{len(summaries)} summaries and {len(rows)} rollup rows vs {len(clean)} and {len(clean_rows)} "
        f"in the clean run; {differ} summaries differ, {len(clean.keys() - summaries.keys())} missing"
    )
    if fields:
        text += "; summary fields differing: " + ", ".join(f"{k} ×{n}" for k, n in fields.most_common(6))
    if row_fields or rows.keys() != clean_rows.keys():
        windows = sorted(map(str, rows.keys() ^ clean_rows.keys()))[:3]
        text += f"; rollup fields differing: {dict(row_fields)}, windows in one only: {windows}"
        if counts:
            text += " (counts here vs clean: " + ", ".join(counts[:6]) + ")"
    return text


async def check_effects(
    ctx: Context, result: ScenarioResult, setup: Setup, topics: TopicSettings, final: dict[str, Any]
) -> None:
    """The stream, the archive, the analytics and the commands after the run."""
    seen = await read_stream(ctx.cluster.kafka, topics)
    apply_audit(result, audit(seen, final["seqs"]), final["stats"]["dropped"])
    sessions = len(final["seqs"])

    if archival_available():
        records = await event_records(setup)
        copies = await asyncio.to_thread(archived, setup.archive_root)
        missing = sum(1 for k in records if copies[k] == 0)
        twice = sum(n - 1 for n in copies.values() if n > 1)
        extra = sum(1 for k in copies if k not in records)
        result.check(
            "archive: every record of the event topics exactly once",
            missing == 0 and twice == 0 and extra == 0,
            f"{len(records):,} records, {missing} missing, {twice} archived twice, {extra} unknown",
        )
    else:
        result.notes.append(f"archival part not run: {ARCHIVAL_MISSING}")

    expected = await clean_analytics(setup, sessions)
    got = await asyncio.to_thread(stored, setup.db)
    result.check(
        "analytics identical to a clean run (summaries and rollups)",
        got == expected,
        compare_analytics(got, expected),
    )

    executed: Counter[str] = Counter()
    prompts: defaultdict[str, int] = defaultdict(int)
    closes: defaultdict[str, int] = defaultdict(int)
    refused: Counter[str] = Counter()
    records_ = await read_topics(ctx.cluster.kafka, [topics.name(topics.session_events)], timeout_s=300)
    for r in records_:
        try:
            event = decode(r.value or b"", r.headers)
        except DecodeError:
            continue
        if isinstance(event.data, CommandExecutedV1):
            executed[event.data.command_id] += 1
            if event.data.command_type == "prompt_user":
                prompts[event.session_id] += 1
            elif event.data.command_type == "close_session":
                closes[event.session_id] += 1
        elif isinstance(event.data, CommandRejectedV1):
            refused[event.data.reason] += 1
    twice = sum(n - 1 for n in executed.values() if n > 1)
    over = [s for s, n in prompts.items() if n > MAX_PROMPTS] + [s for s, n in closes.items() if n > 1]
    result.check(
        "inactivity: no prompt or close executed twice",
        twice == 0 and not over,
        f"{sum(executed.values())} commands executed, {twice} twice, {len(over)} sessions over "
        f"{MAX_PROMPTS} prompts or 1 close; refused by the agents: {dict(refused) or 'none'}",
    )
    away = [sid for sid in final["seqs"] if sid.rsplit("-", 1)[-1].startswith("a")]
    fully = sum(1 for s in away if prompts[s] == MAX_PROMPTS and closes[s] == 1)
    closed_once = sum(1 for s in away if closes[s] == 1)
    result.check(
        "inactivity: every silent user closed by the consumer, once",
        len(final["closed_by_inactivity"]) == len(away) and closed_once == len(away),
        f"{len(final['closed_by_inactivity'])}/{len(away)} silent sessions closed by the consumer's command",
    )
    result.notes.append(
        f"inactivity: {fully}/{len(away)} silent sessions got all {MAX_PROMPTS} prompts before the close; "
        "a prompt that fell due while the consumer was down is skipped, by design (policy.due sends only "
        "the latest due prompt, never a burst)"
    )
    result.largest_stall_ms = final["stall_max_ms"]
    result.notes += cpu_notes(final)


async def consumer_crashes(ctx: Context) -> ScenarioResult:
    """5. Each consumer SIGKILLed at random points many times while the sessions run, then restarted."""
    p = ctx.params
    result = ScenarioResult("5. Consumer crashes")
    await ensure_broker(ctx)
    topics = await ctx.cluster.topics("ccrash")
    s = setup(ctx, topics, "ccrash")
    names = list(consumer_classes())
    children = {name: ConsumerProcess(name, s) for name in names}
    for child in children.values():
        child.start()
    config = fleet_config(ctx, topics, "ccrash")
    worker = WorkerProcess(config, s.folder / "worker.log")
    await worker.start()
    rng = random.Random(p.seed)
    try:
        while not worker.exited or min(c.kills for c in children.values()) < p.kills:
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            child = children[rng.choice(names)]
            await asyncio.to_thread(child.kill)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            child.start()
        final = await worker.finish(config.drain_timeout_s + 60)
        await wait_for("the archive to catch up", lambda: sum(archived(s.archive_root).values()) > 0, 5)
        records = await event_records(s)
        done = await wait_for(
            "the consumers to catch up",
            lambda: (
                all(c.ready() for c in children.values())
                and summaries_in(s.db) >= len(final["seqs"])
                and (not archival_available() or sum(archived(s.archive_root).values()) >= len(records))
            ),
            240,
        )
        await asyncio.sleep(s.settings.analytics.end_grace_s + 2)
        codes = {name: await asyncio.to_thread(c.terminate) for name, c in children.items()}
    finally:
        worker.kill()
        for child in children.values():
            await asyncio.to_thread(child.kill)
    kills = ", ".join(f"{n} ×{c.kills}" for n, c in children.items())
    result.load = f"{len(final['seqs'])} sessions (half go silent) × {final['conversations_s']:.0f} s"
    result.faults = f"SIGKILL at random points: {kills}"
    result.check("the restarted consumers caught up", done, f"caught up={done}")
    result.check(
        "the last instances stopped cleanly on SIGTERM",
        all(c == 0 for c in codes.values()),
        f"exit codes {codes}",
    )
    await check_effects(ctx, result, s, topics, final)
    if not archival_available():
        result.notes.append(f"archival not killed: {ARCHIVAL_MISSING}")
    return result


async def rebalance(ctx: Context) -> ScenarioResult:
    """6. A second instance of each consumer joins mid-stream and leaves again."""
    result = ScenarioResult("6. Rebalance")
    await ensure_broker(ctx)
    topics = await ctx.cluster.topics("rebal")
    s = setup(ctx, topics, "rebal")
    makers = consumer_classes()
    first = {name: ConsumerService(make(s), s.settings) for name, make in makers.items()}
    second = {name: ConsumerService(make(s), s.settings) for name, make in makers.items()}
    config = fleet_config(ctx, topics, "rebal")
    worker = WorkerProcess(config, s.folder / "worker.log")
    for service in first.values():
        await service.start()
    await worker.start()
    duration = config.duration_s
    joined = left = 0.0
    stopped: set[str] = set()
    try:
        await asyncio.sleep(duration / 3)
        for service in second.values():
            await service.start()
        joined = time.time()
        await asyncio.sleep(duration / 3)
        for service in second.values():
            await service.stop()
        stopped = set(second)
        left = time.time()
        final = await worker.finish(duration + config.drain_timeout_s + 60)
        records = await event_records(s)
        done = await wait_for(
            "the consumers to catch up",
            lambda: (
                summaries_in(s.db) >= len(final["seqs"])
                and (not archival_available() or sum(archived(s.archive_root).values()) >= len(records))
            ),
            240,
        )
    finally:
        worker.kill()
        for name, service in second.items():
            if name not in stopped:
                with contextlib.suppress(Exception):
                    await service.stop()
        for service in first.values():
            with contextlib.suppress(Exception):
                await service.stop()
    handled = {n: (first[n].processed, second[n].processed) for n in makers}
    result.load = f"{len(final['seqs'])} sessions (half go silent) × {final['conversations_s']:.0f} s"
    result.faults = (
        f"a 2nd instance of {', '.join(makers)} joined at {duration / 3:.0f} s and left "
        f"{left - joined:.0f} s later"
    )
    result.check("the consumers caught up", done, f"caught up={done}")
    result.check(
        "the second instances took part",
        all(b > 0 for _, b in handled.values()),
        "records handled (first, second): " + ", ".join(f"{n} {a:,}/{b:,}" for n, (a, b) in handled.items()),
    )
    await check_effects(ctx, result, s, topics, final)
    return result
