"""examples/agent.py: the real agent module, run through its own entrypoint with fakes for the models.

The entrypoint runs under `livekit.agents.testing.fake_job_context()` (a real JobContext: job id,
room sid); its room is never connected, so the session runs on the fake audio IO instead of room
IO (`examples.agent.session_room`). Everything else is the example's own code path.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from livekit.agents import AgentSession, JobContext, inference
from livekit.agents.testing import fake_job_context

import examples.agent as example
from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings, PublisherSettings, TopicSettings
from lkbus.sim import FakeReply, FakeToolCall, SimulatedSession
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from schemas import Event, PromptUserV1, decode, encode_command
from schemas.payloads.agent_v1 import FunctionToolsExecutedV1, UserInputTranscribedV1
from schemas.payloads.commands_v1 import CommandExecutedV1

PROMPT = "Ask whether the user is still there."


async def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def end_job(ctx: JobContext, reason: str = "job_shutdown") -> None:
    """What the job runner does when a job ends (livekit/agents/ipc/job_proc_lazy_main.py).

    Runs the shutdown callbacks (the publisher's flush among them), then the job's clean-up, which
    removes the session directory a `fake_job_context()` would otherwise leave behind.
    """
    await asyncio.gather(*(callback(reason) for callback in ctx._shutdown_callbacks))
    await ctx._on_cleanup()


async def send_prompt_user(kafka: KafkaSettings, topic: str, session_id: str) -> PromptUserV1:
    now = time.time()
    command = PromptUserV1(
        command_id=str(uuid.uuid4()),
        session_id=session_id,
        issued_at=now,
        expires_at=now + 30,
        instructions=PROMPT,
    )
    record = encode_command(command)
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    return command


@pytest.fixture
async def topics(kafka: KafkaSettings, unique: Callable[[str], str]) -> TopicSettings:
    settings = TopicSettings(prefix=unique("example") + ".", partitions=3)
    await create_topics(kafka, project_topics(settings))
    return settings


@pytest.fixture
async def publisher(
    kafka: KafkaSettings, topics: TopicSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EventPublisher]:
    """The example's module-level publisher, pointed at the test's Kafka and topics."""
    replacement = EventPublisher(kafka, topics, PublisherSettings(journal_dir=tmp_path / "journal"))
    monkeypatch.setattr(example, "publisher", replacement)
    yield replacement
    await replacement.stop()  # the example starts it; a no-op when it never did


async def test_example_agent_publishes_its_job_and_obeys_commands(
    kafka: KafkaSettings,
    topics: TopicSettings,
    publisher: EventPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The example's models are replaced by the simulation kit's fakes (and its fake microphone
    # and speaker); the session itself is a real AgentSession, started by the example.
    sim = SimulatedSession(user_away_timeout=None)
    sim.llm.script(
        "Hello! How can I help?",
        FakeReply(tool_calls=(FakeToolCall("lookup_weather", {"location": "Paris"}),)),
        "It is sunny in Paris.",
    )
    monkeypatch.setattr(example, "build_session", lambda: sim.session)
    job_id = f"AJ_{uuid.uuid4().hex[:12]}"

    with fake_job_context(job_id=job_id) as ctx:
        try:
            await example.entrypoint(ctx)  # starts the publisher, attaches, starts, greets
            assert publisher.started
            await sim.wait_for_agent_idle()
            greeting = sim.llm.calls[0]
            assert "Greet the user and offer your help." in greeting.texts("system", "developer")
            assert any("lookup_weather" in text for text in greeting.texts("system", "developer")), (
                "the Assistant's instructions"
            )
            assert greeting.tool_names == ("lookup_weather",)
            assert sim.tts.texts, "the greeting was spoken"

            await sim.user_says("what is the weather in Paris")
            await sim.wait_for_agent_idle()

            await publisher.commands_ready()
            prompt = await send_prompt_user(kafka, topics.name(topics.commands), session_id=job_id)
            await wait_for(
                lambda: any(PROMPT in call.texts("system", "developer") for call in sim.llm.calls),
                "the prompt_user command to reach the LLM",
            )
            await sim.wait_for_agent_idle()
        finally:
            await sim.close()  # the session ends (as when the user leaves), then the job does
            await end_job(ctx)
    assert await publisher.flush(10)

    records = await read_topics(kafka, list(topics.event_topics))
    events = sorted(
        (decode(r.value, r.headers) for r in records if r.key == job_id.encode()), key=lambda e: e.seq or 0
    )
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "seq 1..N, no gaps"
    assert events[0].type == "lkbus.session.started"
    assert [e.type for e in events[-2:]] == ["livekit.agent.close", "lkbus.session.ended"]
    assert {(e.session_id, e.job_id, e.room_sid, e.room_name) for e in events} == {
        (job_id, job_id, ctx.job.room.sid, ctx.job.room.name)
    }, "every event carries the job's ids"

    assert "what is the weather in Paris" in final_transcripts(events)
    tools = [name for e in events if isinstance(e.data, FunctionToolsExecutedV1) for name in tool_names(e)]
    assert tools == ["lookup_weather"], "the example's tool ran"
    executed = [
        (e.data.command_id, e.data.command_type) for e in events if isinstance(e.data, CommandExecutedV1)
    ]
    assert executed == [(prompt.command_id, "prompt_user")], "the prompt_user command ran, once"


def final_transcripts(events: list[Event]) -> list[str | None]:
    return [
        e.data.transcript for e in events if isinstance(e.data, UserInputTranscribedV1) and e.data.is_final
    ]


def tool_names(event: Event) -> list[str]:
    assert isinstance(event.data, FunctionToolsExecutedV1)
    return [call.name for call in event.data.function_calls]


async def test_models_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`build_session()` builds LiveKit Inference models from AGENT_* (no network until used)."""
    monkeypatch.setenv("LIVEKIT_API_KEY", "test-key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "test-secret-" + "x" * 32)
    monkeypatch.delenv("AGENT_STT", raising=False)
    monkeypatch.setenv("AGENT_LLM", "openai/gpt-4.1-nano")
    monkeypatch.setenv("AGENT_TTS", "cartesia/sonic-3")

    session: AgentSession[None] = example.build_session()

    assert isinstance(session.stt, inference.STT)
    assert isinstance(session.llm, inference.LLM)
    assert isinstance(session.tts, inference.TTS)
    assert (session.stt.model, session.llm.model, session.tts.model) == (
        example.DEFAULT_STT,
        "openai/gpt-4.1-nano",
        "cartesia/sonic-3",
    )
