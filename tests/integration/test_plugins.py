"""Custom consumers: loaded by path and by entry point, typed events, dead letters for failures."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consumers.plugin import consumer
from consumers.registry import available, load_consumer
from consumers.runtime import ConsumerService, Incoming, RetriableError
from consumers.runtime.deadletter import error_context
from examples import custom_consumer
from lkbus.settings import ConsumerSettings, KafkaSettings, PublisherSettings, Settings, TopicSettings
from lkbus.sim import simulated_session
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from schemas import Event

SEEN: list[tuple[str, str]] = []


@consumer("state-watcher", types=["livekit.agent.*_state_changed"], topics=["user_state", "session"])
async def state_watcher(event: Event, record: Incoming) -> None:
    """A plugin that fails for good on `away`, and once (retriably) on `speaking`."""
    data = event.data
    if getattr(data, "new_state", None) == "away":
        raise ValueError("away is not handled here")
    if getattr(data, "new_state", None) == "speaking" and (record.topic, record.offset) not in FLAKY_SEEN:
        FLAKY_SEEN.add((record.topic, record.offset))
        raise RetriableError("try again")
    SEEN.append((event.type, getattr(data, "new_state", "")))


FLAKY_SEEN: set[tuple[str, int]] = set()


@pytest.fixture
async def settings(kafka: KafkaSettings, unique: Callable[[str], str], tmp_path: Path) -> Settings:
    topics = TopicSettings(prefix=unique("plug") + ".", partitions=2)
    await create_topics(kafka, project_topics(topics))
    settings = Settings(
        kafka=kafka,
        topics=topics,
        publisher=PublisherSettings(journal_dir=tmp_path / "j"),
        consumer=ConsumerSettings(
            group_prefix=unique("g") + ".", session_timeout_ms=6000, retry_backoff_s=0.01
        ),
    )
    async with EventPublisher.from_settings(settings) as publisher:
        async with simulated_session(
            before_start=lambda s: publisher.attach(s, session_id="plug-1", agent_name="support"),
            user_away_timeout=0.3,
        ) as sim:
            sim.llm.script("Hello.")
            await sim.user_says("hi")
            await sim.wait_for_agent_idle()
            await sim.wait_for_user_state("away")
            await sim.close()
        assert await publisher.flush(10)
    return settings


@pytest.fixture
def entry_point(tmp_path: Path) -> Iterator[None]:
    """An installed distribution that registers a consumer under the `lkbus.consumers` group."""
    dist = tmp_path / "site" / "lkbus_plugin_demo-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lkbus-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lkbus.consumers]\naway-counter = examples.custom_consumer:away_counter\n"
    )
    sys.path.insert(0, str(dist.parent))
    try:
        yield
    finally:
        sys.path.remove(str(dist.parent))


async def run_until(service: ConsumerService, done: Callable[[], bool], timeout: float = 30) -> None:
    await service.start()
    try:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.05)
    finally:
        await service.stop()


async def test_plugin_by_path_gets_typed_events_and_dead_letters(settings: Settings) -> None:
    plugin = load_consumer("tests.integration.test_plugins:state_watcher")
    assert plugin.name == "state-watcher"
    service = ConsumerService(plugin, settings)
    await run_until(service, lambda: service.dead_lettered >= 1 and any(s == "listening" for _, s in SEEN))
    assert ("livekit.agent.user_state_changed", "speaking") in SEEN, "retried after a RetriableError"
    assert ("livekit.agent.agent_state_changed", "thinking") in SEEN
    letters = await read_topics(settings.kafka, [settings.topics.name(settings.topics.deadletter)])
    contexts = [error_context(list(r.headers)) for r in letters]
    assert any(c["consumer"] == "state-watcher" and c["class"] == "ValueError" for c in contexts)


async def test_plugin_by_entry_point(settings: Settings, entry_point: None) -> None:
    assert available()["away-counter"] == "examples.custom_consumer:away_counter"
    plugin = load_consumer("away-counter")
    custom_consumer.AWAY_BY_AGENT.clear()
    service = ConsumerService(plugin, settings)
    await run_until(service, lambda: custom_consumer.AWAY_BY_AGENT["support"] >= 1)
    assert service.dead_lettered == 0


async def test_replay_mode_runs_a_consumer_over_history_without_committing(settings: Settings) -> None:
    from consumers.runtime.replay import replay_consumer
    from lkbus.replay.position import Beginning, End

    SEEN.clear()
    FLAKY_SEEN.clear()
    plugin = load_consumer("tests.integration.test_plugins:state_watcher")
    result = await replay_consumer(plugin, settings, start=Beginning(), stop=End())
    assert result.read > 0
    assert result.handled > 0
    assert result.failed >= 1, "the away record fails, and is reported instead of dead-lettered"
    assert ("livekit.agent.agent_state_changed", "thinking") in SEEN
    letters = await read_topics(settings.kafka, [settings.topics.name(settings.topics.deadletter)])
    assert letters == [], "a replay sends nothing"
    from tests.integration.test_consumer_runtime import committed

    assert await committed(settings.kafka, settings.consumer.group_prefix + "state-watcher") == {}
