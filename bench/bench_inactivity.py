"""Latency from `away` in the agent to the prompt executed on the session, beside a bare two-hop floor."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.__main__ import BenchKafka
from bench.report import BenchRow
from consumers.inactivity.service import InactivityConsumer
from consumers.runtime import ConsumerService
from lkbus.kafka import client_options
from lkbus.settings import (
    ConsumerSettings,
    InactivitySettings,
    KafkaSettings,
    PublisherSettings,
    Settings,
    TopicSettings,
)
from lkbus.sim import EventLog, SimulatedSession, simulated_session
from lkbus.topics import TopicSpec, create_topics, project_topics

SESSIONS = 5
EPISODES_PER_SESSION = 40
FETCH_WAIT_MS = 10


def run(kafka: BenchKafka) -> list[BenchRow]:
    return asyncio.run(_run(KafkaSettings(bootstrap_servers=kafka.bootstrap, client_id="lkbus-bench")))


async def _run(kafka: KafkaSettings) -> list[BenchRow]:
    floor = await _two_hop_floor(kafka, SESSIONS * EPISODES_PER_SESSION)
    ours = await _away_to_prompt(kafka)
    return [
        BenchRow(
            "away → prompt executed, p50",
            _pct(ours, 50),
            _pct(floor, 50),
            "ms",
            "bare aiokafka two-hop round trip",
            "",
        ),
        BenchRow(
            "away → prompt executed, p99",
            _pct(ours, 99),
            _pct(floor, 99),
            "ms",
            "bare aiokafka two-hop round trip",
            "<= 3x",
        ),
    ]


def _pct(samples: list[float], p: int) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, len(ordered) * p // 100)] * 1000


async def _two_hop_floor(kafka: KafkaSettings, count: int) -> list[float]:
    """Produce to A → a consumer of A produces to B → a consumer of B receives: per-message latency."""
    run = uuid.uuid4().hex[:8]
    a, b = f"bench.hop-a.{run}", f"bench.hop-b.{run}"
    await create_topics(kafka, [TopicSpec(a, 1, 1), TopicSpec(b, 1, 1)])
    options = client_options(kafka)
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True, linger_ms=5)
    relay_out = AIOKafkaProducer(**options, acks="all", enable_idempotence=True, linger_ms=5)
    relay_in = AIOKafkaConsumer(**options, fetch_max_wait_ms=FETCH_WAIT_MS, enable_auto_commit=False)
    sink = AIOKafkaConsumer(**options, fetch_max_wait_ms=FETCH_WAIT_MS, enable_auto_commit=False)
    for client in (producer, relay_out, relay_in, sink):
        await client.start()
    relay_in.assign([TopicPartition(a, 0)])
    sink.assign([TopicPartition(b, 0)])
    await relay_in.seek_to_end(TopicPartition(a, 0))
    await sink.seek_to_end(TopicPartition(b, 0))

    async def relay() -> None:
        async for message in relay_in:
            await relay_out.send(b, message.value)

    relaying = asyncio.get_running_loop().create_task(relay())
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            await producer.send(a, b"x")
            await sink.getone()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
    finally:
        relaying.cancel()
        for client in (producer, relay_out, relay_in, sink):
            await client.stop()
    return latencies


async def _away_to_prompt(kafka: KafkaSettings) -> list[float]:
    """REAL AgentSessions go away repeatedly; the inactivity consumer prompts them back."""
    topics = TopicSettings(prefix=f"bench.{uuid.uuid4().hex[:8]}.", partitions=6)
    await create_topics(kafka, project_topics(topics))
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            kafka=kafka,
            topics=topics,
            publisher=PublisherSettings(journal_dir=Path(folder)),
            consumer=ConsumerSettings(
                group_prefix=f"bench.{uuid.uuid4().hex[:8]}.",
                fetch_max_wait_ms=FETCH_WAIT_MS,
                session_timeout_ms=6000,
            ),
            inactivity=InactivitySettings(prompt_interval_s=30, max_prompts=1, tick_s=0.05),
        )
        service = ConsumerService(InactivityConsumer(), settings)
        await service.start()
        await asyncio.wait_for(service.ready.wait(), 30)
        from producers import EventPublisher

        latencies: list[float] = []
        try:
            async with EventPublisher.from_settings(settings) as publisher:
                await asyncio.gather(*(_episodes(publisher, i, latencies) for i in range(SESSIONS)))
        finally:
            await service.stop()
    return latencies


async def _episodes(publisher: Any, index: int, latencies: list[float]) -> None:
    log = EventLog()

    def attach(session: Any) -> None:
        log.attach(session)
        publisher.attach(session, session_id=f"bench-away-{index}", agent_name="bench")

    async with simulated_session(before_start=attach, user_away_timeout=0.3) as sim:
        await publisher.commands_ready()
        for _ in range(EPISODES_PER_SESSION):
            await _wait(lambda: _last_state(log) == "away")
            away_at = log.of("user_state_changed")[-1].created_at
            prompt = await _prompt_after(log, away_at)
            latencies.append(prompt.created_at - away_at)
            await sim.wait_for_agent_idle()
            await _come_back(sim)
        await sim.close()


async def _prompt_after(log: EventLog, away_at: float) -> Any:
    """The first reply the agent generated (the prompt) after `away_at`."""

    def found() -> Any:
        return next(
            (s for s in log.of("speech_created") if s.source == "generate_reply" and s.created_at >= away_at),
            None,
        )

    await _wait(lambda: found() is not None)
    return found()


def _last_state(log: EventLog) -> str | None:
    states = log.of("user_state_changed")
    return states[-1].new_state if states else None


async def _come_back(sim: SimulatedSession) -> None:
    sim.llm.script("Welcome back.")
    await sim.user_says("I am here")
    await sim.wait_for_agent_idle()


async def _wait(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark episode did not progress")
        await asyncio.sleep(0.005)
