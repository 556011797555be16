"""The inactivity loop end to end: a REAL AgentSession, the publisher, Kafka, the consumer, commands back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from consumers.inactivity.service import InactivityConsumer
from consumers.runtime import ConsumerService
from lkbus.settings import (
    ConsumerSettings,
    InactivitySettings,
    KafkaSettings,
    PublisherSettings,
    Settings,
    TopicSettings,
)
from lkbus.sim import EventLog, SimulatedSession, simulated_session
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from schemas import decode
from schemas.payloads.commands_v1 import CommandExecutedV1, CommandRejectedV1

INSTRUCTIONS = "The user has been inactive. Politely check if the user is still present."


@pytest.fixture
async def settings(kafka: KafkaSettings, unique: Callable[[str], str], tmp_path: Path) -> Settings:
    topics = TopicSettings(prefix=unique("inact") + ".", partitions=2)
    await create_topics(kafka, project_topics(topics))
    return Settings(
        kafka=kafka,
        topics=topics,
        publisher=PublisherSettings(journal_dir=tmp_path / "journal"),
        consumer=ConsumerSettings(
            group_prefix=unique("g") + ".", session_timeout_ms=6000, fetch_max_wait_ms=20
        ),
        inactivity=InactivitySettings(prompt_interval_s=1.0, max_prompts=2, tick_s=0.05, command_ttl_s=5),
    )


@asynccontextmanager
async def inactivity_service(settings: Settings) -> AsyncIterator[ConsumerService]:
    service = ConsumerService(InactivityConsumer(), settings)
    await service.start()
    try:
        await asyncio.wait_for(service.ready.wait(), 30)
        yield service
    finally:
        await service.stop()


@asynccontextmanager
async def agent(
    settings: Settings, session_id: str, log: EventLog
) -> AsyncIterator[tuple[SimulatedSession, EventPublisher]]:
    async with EventPublisher.from_settings(settings) as publisher:

        def attach(session: Any) -> None:
            log.attach(session)
            publisher.attach(session, session_id=session_id, agent_name="support")

        async with simulated_session(before_start=attach, user_away_timeout=0.3) as sim:
            await publisher.commands_ready()
            yield sim, publisher
        await publisher.flush(10)


async def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def prompts_seen(sim: SimulatedSession) -> int:
    return sum(INSTRUCTIONS in " ".join(call.texts("system", "developer")) for call in sim.llm.calls)


async def outcomes(settings: Settings, session_id: str) -> list[tuple[str, str, str | None]]:
    records = await read_topics(settings.kafka, [settings.topics.name(settings.topics.session_events)])
    found: list[tuple[str, str, str | None]] = []
    for r in records:
        event = decode(r.value, r.headers)
        if event.session_id == session_id and isinstance(event.data, CommandExecutedV1 | CommandRejectedV1):
            found.append(
                (type(event.data).__name__, event.data.command_type, getattr(event.data, "reason", None))
            )
    return found


async def test_silent_user_is_prompted_then_the_session_closes(settings: Settings) -> None:
    log = EventLog()
    async with inactivity_service(settings), agent(settings, "silent-1", log) as (sim, _):
        sim.llm.script("Hello, how can I help?")
        await sim.user_says("hi")
        await sim.wait_for_agent_idle()
        await wait_for(lambda: bool(log.of("close")), timeout=30)
    assert prompts_seen(sim) == 2, "the agent generated a reply with the prompt's instructions, twice"
    assert log.of("close")[0].reason.value == "user_initiated"
    executed = [o for o in await outcomes(settings, "silent-1") if o[0] == "CommandExecutedV1"]
    assert [kind for _, kind, _ in executed] == ["prompt_user", "prompt_user", "close_session"]


async def test_a_user_who_comes_back_is_not_prompted_again(settings: Settings) -> None:
    log = EventLog()
    async with inactivity_service(settings), agent(settings, "back-1", log) as (sim, _):
        await wait_for(lambda: prompts_seen(sim) == 1)
        await sim.wait_for_agent_idle()
        returned = time.monotonic()
        while time.monotonic() - returned < 2.5:  # past when prompt 2 and the close would have come
            sim.llm.script("Go on.")
            await sim.user_says("and another thing")
            await sim.wait_for_agent_idle()
        assert not log.of("close")
        assert prompts_seen(sim) == 1
        assert ("away", "speaking") in [(e.old_state, e.new_state) for e in log.of("user_state_changed")]
        await sim.close()


async def test_a_restarted_consumer_continues_the_episode_without_duplicates(settings: Settings) -> None:
    log = EventLog()
    async with agent(settings, "restart-1", log) as (sim, _):
        async with inactivity_service(settings):
            await wait_for(lambda: prompts_seen(sim) == 1)
        # the consumer is gone mid-episode; a new instance of the group takes over
        async with inactivity_service(settings):
            await wait_for(lambda: bool(log.of("close")), timeout=40)
    assert prompts_seen(sim) == 2, "prompt 1 was not executed twice"
    results = await outcomes(settings, "restart-1")
    executed = [kind for name, kind, _ in results if name == "CommandExecutedV1"]
    assert executed == ["prompt_user", "prompt_user", "close_session"]
