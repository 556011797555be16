"""The agent-side publisher against real Kafka, driven by REAL AgentSessions with fake models."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiokafka.partitioner import DefaultPartitioner

from lkbus.settings import KafkaSettings, PublisherSettings, TopicSettings
from lkbus.sim import EventLog, canonical_conversation, simulated_session
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from schemas import EncodedRecord, Event, SessionContext, decode, encode_event
from schemas.export import SCHEMAS_ROOT
from schemas.payloads.agent_v1 import UserInputTranscribedV1, UserStateChangedV1
from schemas.payloads.lifecycle_v1 import SessionEndedV1


@pytest.fixture
async def topics(kafka: KafkaSettings, unique: Callable[[str], str]) -> TopicSettings:
    settings = TopicSettings(prefix=unique("pub") + ".", partitions=3)
    await create_topics(kafka, project_topics(settings))
    return settings


def publisher_for(
    kafka: KafkaSettings, topics: TopicSettings, tmp_path: Path, **overrides: Any
) -> EventPublisher:
    settings = PublisherSettings(journal_dir=tmp_path / "journal", **overrides)
    return EventPublisher(kafka, topics, settings)


async def session_events(kafka: KafkaSettings, topics: TopicSettings, session_id: str) -> list[Event]:
    records = await read_topics(kafka, list(topics.event_topics))
    events = [decode(r.value, r.headers) for r in records if r.key == session_id.encode()]
    return sorted(events, key=lambda e: e.seq or 0)


def final_transcripts(events: list[Event]) -> list[str | None]:
    return [
        e.data.transcript for e in events if isinstance(e.data, UserInputTranscribedV1) and e.data.is_final
    ]


def validate_against_committed_schema(record_value: dict[str, Any]) -> None:
    version = record_value["schema_version"]
    schema = json.loads((SCHEMAS_ROOT / "json" / record_value["type"] / f"v{version}.json").read_text())
    jsonschema.validate(record_value, schema)


async def test_scripted_conversation_arrives_whole_in_order(
    kafka: KafkaSettings, topics: TopicSettings, tmp_path: Path
) -> None:
    log = EventLog()
    async with publisher_for(kafka, topics, tmp_path) as publisher:

        def attach(session: Any) -> None:
            log.attach(session)
            publisher.attach(session, session_id="conv-1", agent_name="weather-agent")

        async with simulated_session(before_start=attach, user_away_timeout=0.3) as sim:
            await canonical_conversation(sim)
        assert await publisher.flush(10)
        stats = publisher.stats()
    events = await session_events(kafka, topics, "conv-1")

    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "seq 1..N, no gaps, no duplicates"
    assert events[0].type == "lkbus.session.started"
    assert events[-1].type == "lkbus.session.ended"
    middle = events[1:-1]
    assert [e.type for e in middle] == [f"livekit.agent.{name}" for name in log.names()], (
        "every event a plain session.on listener saw, exactly once, in emission order"
    )
    assert stats.dropped == 0
    assert stats.spilled == 0
    ended = events[-1].data
    assert isinstance(ended, SessionEndedV1)
    assert ended.last_seq == events[-1].seq

    states = [(e.data.old_state, e.data.new_state) for e in middle if isinstance(e.data, UserStateChangedV1)]
    assert ("listening", "away") in states
    assert ("away", "speaking") in states
    finals = final_transcripts(middle)
    assert "what is the weather in Paris" in finals
    tools = [e for e in middle if e.type.endswith("function_tools_executed")]
    assert tools, "the tool call was published"
    assert all(e.session_id == "conv-1" and e.agent_name == "weather-agent" for e in events)

    records = await read_topics(kafka, list(topics.event_topics))
    for record in records:
        if record.key == b"conv-1":
            validate_against_committed_schema(json.loads(record.value))
    user_state_records = await read_topics(kafka, [topics.name(topics.user_state)])
    assert {json.loads(r.value)["type"] for r in user_state_records} == {"livekit.agent.user_state_changed"}


async def test_concurrent_sessions_keep_their_own_order(
    kafka: KafkaSettings, topics: TopicSettings, tmp_path: Path
) -> None:
    async with publisher_for(kafka, topics, tmp_path) as publisher:

        async def one(i: int) -> int:
            log = EventLog()

            def attach(session: Any) -> None:
                log.attach(session)
                publisher.attach(session, session_id=f"multi-{i}", agent_name="agent")

            async with simulated_session(before_start=attach, user_away_timeout=0.3) as sim:
                sim.llm.script(f"Reply {i}.")
                await sim.user_says(f"hello {i}")
                await sim.wait_for_agent_idle()
                await sim.close()
            return len(log) + 2

        expected = await asyncio.gather(*(one(i) for i in range(4)))
        assert await publisher.flush(10)
    for i, count in enumerate(expected):
        events = await session_events(kafka, topics, f"multi-{i}")
        assert [e.seq for e in events] == list(range(1, count + 1))
    # Batches are built per partition by the publisher: each key lands where aiokafka's default
    # partitioner (and so any plain producer) puts it.
    records = await read_topics(kafka, list(topics.event_topics))
    assert {r.key for r in records} == {f"multi-{i}".encode() for i in range(4)}
    partitioner = DefaultPartitioner()
    for r in records:
        assert r.partition == partitioner(r.key, [0, 1, 2], [0, 1, 2])


async def test_a_record_too_large_for_kafka_is_dropped_and_counted_the_rest_go_on(
    kafka: KafkaSettings, topics: TopicSettings, tmp_path: Path
) -> None:
    ctx = SessionContext(session_id="too-large", agent_name="agent", source="test")
    now = time.time()

    def ended(seq: int, reason: str) -> EncodedRecord:
        return encode_event("lkbus.session.ended", {"reason": reason, "last_seq": seq}, ctx, seq, now)

    async with publisher_for(kafka, topics, tmp_path) as publisher:
        publisher.publish(ended(1, "small"))
        publisher.publish(ended(2, "x" * 2_000_000))
        publisher.publish(ended(3, "small again"))
        assert await publisher.flush(10)
        stats = publisher.stats()
    assert stats.dropped == 1
    assert [e.seq for e in await session_events(kafka, topics, "too-large")] == [1, 3]


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("keep", lambda text: text in ("my secret plan", "the weather where I live")),
        ("hash", lambda text: text is not None and text.startswith("hmac-sha256:") and "secret" not in text),
        ("drop", lambda text: text is None),
    ],
)
async def test_redaction_applies_before_anything_leaves(
    kafka: KafkaSettings,
    topics: TopicSettings,
    tmp_path: Path,
    mode: str,
    check: Callable[[str | None], bool],
) -> None:
    extra = {"redact_hash_key": "k3y"} if mode == "hash" else {}
    async with publisher_for(kafka, topics, tmp_path, redact_text=mode, **extra) as publisher:
        sid = f"redact-{mode}"
        async with simulated_session(
            before_start=lambda s: publisher.attach(s, session_id=sid), user_away_timeout=None
        ) as sim:
            sim.llm.script("Noted.")
            await sim.user_says("my secret plan")
            await sim.wait_for_agent_idle()
            # The model fills tool arguments from what the user said; the output repeats them.
            sim.llm.reply_with_tool("lookup_weather", "Sunny.", city="Secretville")
            await sim.user_says("the weather where I live")
            await sim.wait_for_agent_idle()
            await sim.close()
        assert await publisher.flush(10)
    records = await read_topics(kafka, list(topics.event_topics))
    raw = b"".join(r.value for r in records if r.key == sid.encode())
    assert b'"name":"lookup_weather"' in raw, "the tool call was published"
    if mode == "keep":
        assert b"Secretville" in raw
    else:
        assert b"my secret plan" not in raw
        assert b"Secretville" not in raw, "tool arguments and outputs are redacted too"
    events = await session_events(kafka, topics, sid)
    finals = final_transcripts(events)
    assert finals
    assert all(check(text) for text in finals)
