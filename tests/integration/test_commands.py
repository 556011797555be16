"""Commands back to the agent: executed on the session that hosts them, once, before they expire."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from livekit.agents.voice.events import CloseEvent

from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings, PublisherSettings, TopicSettings
from lkbus.sim import EventLog, simulated_session
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from schemas import CloseSessionV1, CommandV1, PromptUserV1, SayV1, decode, encode_command
from schemas.payloads.commands_v1 import CommandExecutedV1, CommandRejectedV1


async def send_commands(kafka: KafkaSettings, topic: str, commands: list[CommandV1]) -> None:
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for command in commands:
            record = encode_command(command)
            await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


def command(kind: type[CommandV1], session_id: str, ttl: float = 30, **fields: Any) -> CommandV1:
    now = time.time()
    return kind(
        command_id=str(uuid.uuid4()), session_id=session_id, issued_at=now, expires_at=now + ttl, **fields
    )


async def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_commands_run_on_their_session_once(
    kafka: KafkaSettings, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    topics = TopicSettings(prefix=unique("cmd") + ".", partitions=3)
    await create_topics(kafka, project_topics(topics))
    commands_topic = topics.name(topics.commands)
    log = EventLog()
    async with EventPublisher(kafka, topics, PublisherSettings(journal_dir=tmp_path / "j")) as publisher:

        def attach(session: Any) -> None:
            log.attach(session)
            publisher.attach(session, session_id="cmd-1")

        async with simulated_session(before_start=attach, user_away_timeout=None) as sim:
            await publisher.commands_ready()
            prompt = command(PromptUserV1, "cmd-1", instructions="Ask whether the user is still there.")
            say = command(SayV1, "cmd-1", text="One moment please.")
            expired = command(PromptUserV1, "cmd-1", ttl=-1, instructions="too late")
            other = command(SayV1, "someone-else", text="not for us")
            await send_commands(kafka, commands_topic, [prompt, prompt, expired, other, say])
            await wait_for(lambda: len(sim.llm.calls) >= 1 and bool(sim.tts.texts))
            await sim.wait_for_agent_idle()
            assert "Ask whether the user is still there." in sim.llm.calls[-1].texts("system", "developer")
            assert all(
                "too late" not in text for call in sim.llm.calls for text in call.texts("system", "developer")
            )
            close = command(CloseSessionV1, "cmd-1", reason="inactive", drain=False)
            await send_commands(kafka, commands_topic, [close])
            await wait_for(lambda: bool(log.of("close")))
        assert await publisher.flush(10)

    closes: list[CloseEvent] = log.of("close")
    assert closes[0].reason.value == "user_initiated"
    events = [decode(r.value, r.headers) for r in await read_topics(kafka, list(topics.event_topics))]
    outcomes = {
        (e.data.command_id, type(e.data).__name__, getattr(e.data, "reason", None))
        for e in events
        if isinstance(e.data, CommandExecutedV1 | CommandRejectedV1)
    }
    assert (prompt.command_id, "CommandExecutedV1", None) in outcomes
    assert (prompt.command_id, "CommandRejectedV1", "duplicate") in outcomes
    assert (expired.command_id, "CommandRejectedV1", "expired") in outcomes
    assert (say.command_id, "CommandExecutedV1", None) in outcomes
    assert (close.command_id, "CommandExecutedV1", None) in outcomes
    assert not any(cid == other.command_id for cid, _, _ in outcomes), "other sessions' commands are ignored"
    seqs = sorted(e.seq or 0 for e in events if e.session_id == "cmd-1")
    assert seqs == list(range(1, len(seqs) + 1))
