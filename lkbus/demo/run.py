"""`make demo`: the whole system at work on the local broker.

Starts the broker (unless given one), creates this run's topics, starts the inactivity,
analytics and archival consumers, runs N REAL AgentSessions with scripted users and fake models, and shows
what came out: the analytics report, the replay of one inactive session, the checks, and
where everything lives. Everything it started is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from consumers.analytics.service import AnalyticsConsumer
from consumers.archival.service import ArchivalConsumer
from consumers.inactivity.service import InactivityConsumer
from consumers.runtime import ConsumerService, EventConsumer
from lkbus.broker import LocalBroker
from lkbus.demo.scenarios import Scenario, cast, was_prompted
from lkbus.settings import (
    AnalyticsSettings,
    ArchivalSettings,
    ConsumerSettings,
    InactivitySettings,
    KafkaSettings,
    PublisherSettings,
    Settings,
)
from lkbus.sim import EventLog, simulated_session
from lkbus.topics import create_topics, project_topics, topic_record_count
from producers import EventPublisher

USER_AWAY_TIMEOUT_S = 1.5
PROMPT_INTERVAL_S = 2.0
MAX_PROMPTS = 2


@dataclass
class SessionRun:
    """One simulated session of the demo, and what became of it."""

    session_id: str
    scenario: Scenario
    log: EventLog = field(default_factory=EventLog)
    prompted: bool = False
    state: str = "waiting"
    error: str | None = None


@dataclass
class DemoRun:
    """Everything one demo run made: its settings, sessions and consumers."""

    run_id: str
    folder: Path
    settings: Settings
    sessions: list[SessionRun]
    consumers: dict[str, EventConsumer] = field(default_factory=dict)
    services: dict[str, ConsumerService] = field(default_factory=dict)
    publisher: EventPublisher | None = None
    topic_records: int = 0
    started: float = field(default_factory=time.monotonic)


@asynccontextmanager
async def demo_kafka(
    settings: Settings, bootstrap: str | None, console: Console
) -> AsyncIterator[KafkaSettings]:
    """`bootstrap` when given, else the local broker (stopped afterwards if this run started it)."""
    if bootstrap is not None:
        yield settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
        return
    broker = LocalBroker(settings.broker)
    already_running = broker.status().running
    if not already_running:
        console.print(f"starting the local Apache Kafka broker on {broker.bootstrap} ...")
    try:
        await broker.start()
        yield settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap})
    finally:
        if not already_running:
            broker.stop()
            console.print("local broker stopped")


def demo_settings(base: Settings, kafka: KafkaSettings, run_id: str, folder: Path) -> Settings:
    """The settings of one run: its own topics, consumer groups and files, and short timings."""
    return base.model_copy(
        update={
            "kafka": kafka,
            "topics": base.topics.model_copy(update={"prefix": f"{base.topics.prefix}demo.{run_id}."}),
            "publisher": PublisherSettings(journal_dir=folder / "journal"),
            "consumer": ConsumerSettings(group_prefix=f"lkbus.demo.{run_id}.", fetch_max_wait_ms=50),
            "inactivity": InactivitySettings(
                prompt_interval_s=PROMPT_INTERVAL_S, max_prompts=MAX_PROMPTS, tick_s=0.1, command_ttl_s=10
            ),
            "analytics": AnalyticsSettings(db_path=folder / "analytics.duckdb", end_grace_s=1.0),
            "archival": ArchivalSettings(root=str(folder / "archive")),
        }
    )


async def run_demo(base: Settings, *, sessions: int, bootstrap: str | None, console: Console) -> bool:
    """Run the demo; returns whether every check passed."""
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = Path(".lkbus/demo") / run_id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    async with demo_kafka(base, bootstrap, console) as kafka:
        settings = demo_settings(base, kafka, run_id, folder)
        await create_topics(kafka, project_topics(settings.topics))
        roles = cast(sessions)
        run = DemoRun(
            run_id, folder, settings, [SessionRun(f"demo-{run_id}-{i:02d}", r) for i, r in enumerate(roles)]
        )
        async with AsyncExitStack() as stack:
            await _start_consumers(run, stack, console)
            run.publisher = await stack.enter_async_context(EventPublisher.from_settings(settings))
            with Live(_progress(run), console=console, refresh_per_second=4) as live:
                ticker = asyncio.get_running_loop().create_task(_refresh(live, run))
                try:
                    await asyncio.gather(*(_run_session(run, s, i) for i, s in enumerate(run.sessions)))
                    await run.publisher.flush(30)
                    await _settle(run)
                finally:
                    ticker.cancel()
                    live.update(_progress(run))
        from lkbus.demo.report import print_report

        return await print_report(run, console)


async def _start_consumers(run: DemoRun, stack: AsyncExitStack, console: Console) -> None:
    for consumer in (InactivityConsumer(), AnalyticsConsumer(), ArchivalConsumer()):
        service = ConsumerService(consumer, run.settings)
        await service.start()
        stack.push_async_callback(service.stop)
        run.consumers[consumer.name] = consumer
        run.services[consumer.name] = service
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in run.services.values())), 60)
    console.print(f"consumers running: {', '.join(run.services)}")


async def _run_session(run: DemoRun, session: SessionRun, index: int) -> None:
    publisher = run.publisher
    assert publisher is not None
    await asyncio.sleep(random.uniform(0, 1.5))

    def attach(agent_session: Any) -> None:
        session.log.attach(agent_session)
        publisher.attach(agent_session, session_id=session.session_id, agent_name=_agent_name(index))

    session.state = "running"
    try:
        async with simulated_session(before_start=attach, user_away_timeout=USER_AWAY_TIMEOUT_S) as sim:
            await publisher.commands_ready()
            patience = USER_AWAY_TIMEOUT_S + PROMPT_INTERVAL_S * (MAX_PROMPTS + 2) + 10
            await session.scenario.script(sim, session.log, patience)
            session.prompted = was_prompted(sim)
        session.state = "closed"
    except Exception as exc:  # noqa: BLE001 - one broken session is reported, the demo goes on
        session.state = "failed"
        session.error = exc.__class__.__name__


def _agent_name(index: int) -> str:
    return "support-agent" if index % 2 == 0 else "booking-agent"


async def _settle(run: DemoRun, timeout: float = 60) -> None:
    """Wait until the consumers have taken in every session and every record."""
    analytics = run.consumers["analytics"]
    assert isinstance(analytics, AnalyticsConsumer)
    run.topic_records = await topic_record_count(run.settings.kafka, list(run.settings.topics.event_topics))
    archival = run.services["archival"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (  # noqa: ASYNC110 - the consumers' counters are polled
        analytics.summaries_written < len(run.sessions) or archival.processed < run.topic_records
    ):
        await asyncio.sleep(0.2)


async def _refresh(live: Live, run: DemoRun) -> None:
    while True:
        await asyncio.sleep(0.25)
        live.update(_progress(run))


def _progress(run: DemoRun) -> Group:
    table = Table(title=f"demo {run.run_id}: {len(run.sessions)} REAL AgentSessions", expand=False)
    for column in ("scenario", "sessions", "running", "closed", "prompted", "closed by inactivity"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    by_scenario: dict[str, list[SessionRun]] = {}
    for s in run.sessions:
        by_scenario.setdefault(s.scenario.name, []).append(s)
    for name, group in by_scenario.items():
        states = Counter(s.state for s in group)
        prompted = sum(s.prompted for s in group)
        table.add_row(
            name,
            str(len(group)),
            str(states["running"]),
            str(states["closed"]),
            str(prompted),
            str(sum(s.scenario.closed_by_inactivity and bool(s.log.of("close")) for s in group)),
        )
    stats = run.publisher.stats() if run.publisher else None
    line = Table.grid(padding=(0, 3))
    line.add_row(
        f"events published: {stats.produced if stats else 0}",
        f"spilled: {stats.spilled if stats else 0}",
        *(f"{name}: {service.processed} records" for name, service in run.services.items()),
        f"elapsed: {time.monotonic() - run.started:.0f} s",
    )
    return Group(table, line)
