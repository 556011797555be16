"""The analytics consumer on real Kafka: summaries and rollups, unchanged by crashes and a second instance."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from consumers.analytics.service import AnalyticsConsumer
from consumers.analytics.store import DuckDBStore
from consumers.runtime import ConsumerService
from lkbus.settings import (
    AnalyticsSettings,
    ConsumerSettings,
    KafkaSettings,
    PublisherSettings,
    Settings,
    TopicSettings,
)
from lkbus.sim import canonical_conversation, simulated_session
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from schemas import decode

SESSIONS = 4


@pytest.fixture(scope="module")
def recorded(kafka_source: tuple[str, object], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Topics holding SESSIONS real conversations, recorded once for every test here."""
    kafka = KafkaSettings(bootstrap_servers=kafka_source[0])
    topics = TopicSettings(prefix=f"test.analytics.{random.randrange(1 << 30):x}.", partitions=3)
    folder = tmp_path_factory.mktemp("analytics")

    async def record() -> None:
        await create_topics(kafka, project_topics(topics))
        async with EventPublisher(
            kafka, topics, PublisherSettings(journal_dir=folder / "journal")
        ) as publisher:

            async def one(i: int) -> None:
                async with simulated_session(
                    before_start=lambda s: publisher.attach(
                        s, session_id=f"an-{i}", agent_name=f"agent-{i % 2}"
                    ),
                    user_away_timeout=0.3,
                ) as sim:
                    await canonical_conversation(sim)

            await asyncio.gather(*(one(i) for i in range(SESSIONS)))
            assert await publisher.flush(10)

    asyncio.run(record())
    return Settings(kafka=kafka, topics=topics)


def settings_for(recorded: Settings, folder: Path, group: str) -> Settings:
    return recorded.model_copy(
        update={
            "consumer": ConsumerSettings(
                group_prefix=f"{group}.", session_timeout_ms=6000, fetch_max_wait_ms=20, max_batch=25
            ),
            "analytics": AnalyticsSettings(db_path=folder / "analytics.duckdb", end_grace_s=0.5),
        }
    )


@asynccontextmanager
async def service(settings: Settings) -> AsyncIterator[AnalyticsConsumer]:
    consumer = AnalyticsConsumer()
    runner = ConsumerService(consumer, settings)
    await runner.start()
    try:
        yield consumer
    finally:
        await runner.stop()


def stored(db: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sessions and rollups in the store, as plain data (the lock may be held for a moment by a writer)."""
    for _ in range(100):
        try:
            with DuckDBStore(db, read_only=True) as store:
                sessions = [s.model_dump(mode="json") for s in store.sessions()]
                rollups = [r.model_dump(mode="json") for r in store.rollups()]
                return sessions, rollups
        except Exception:  # noqa: BLE001 - the writer holds the file for a moment; try again
            time.sleep(0.1)
    raise AssertionError("the store stayed locked")


async def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def summarised(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with duckdb.connect(str(db), read_only=True) as connection:
            row = connection.execute("SELECT count(*) FROM sessions").fetchone()
            return int(row[0]) if row else 0
    except duckdb.Error:
        return 0


async def clean_run(recorded: Settings, folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    settings = settings_for(recorded, folder, f"clean{random.randrange(1 << 30):x}")
    async with service(settings) as consumer:
        await wait_for(lambda: consumer.summaries_written >= SESSIONS)
    return stored(settings.analytics.db_path)


async def test_summaries_are_stored_and_published(recorded: Settings, tmp_path: Path) -> None:
    sessions, rollups = await clean_run(recorded, tmp_path)
    assert sorted(s["session_id"] for s in sessions) == [f"an-{i}" for i in range(SESSIONS)]
    for summary in sessions:
        assert summary["status"] == "ended"
        assert summary["close_reason"] == "user_initiated"
        assert summary["duration"] > 0
        assert summary["tool_calls"], "the weather tool call is counted"
    assert {r["agent_name"] for r in rollups} == {"agent-0", "agent-1"}
    assert sum(r["sessions_started"] for r in rollups) == SESSIONS
    published = await read_topics(recorded.kafka, [recorded.topics.name(recorded.topics.analytics_sessions)])
    assert {decode(r.value, r.headers).session_id for r in published} == {f"an-{i}" for i in range(SESSIONS)}


async def test_sigkills_and_restarts_give_the_clean_result(recorded: Settings, tmp_path: Path) -> None:
    expected = await clean_run(recorded, tmp_path / "clean")
    settings = settings_for(recorded, tmp_path / "crashy", f"crashy{random.randrange(1 << 30):x}")
    db = settings.analytics.db_path
    env = {
        **os.environ,
        "LKBUS_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LKBUS_TOPICS__PREFIX": settings.topics.prefix,
        "LKBUS_CONSUMER__GROUP_PREFIX": settings.consumer.group_prefix,
        "LKBUS_CONSUMER__MAX_BATCH": "10",
        "LKBUS_CONSUMER__SESSION_TIMEOUT_MS": "6000",
        "LKBUS_ANALYTICS__DB_PATH": str(db),
        "LKBUS_ANALYTICS__END_GRACE_S": "0.5",
    }
    rng = random.Random(7)
    for _ in range(3):
        with subprocess.Popen(
            [sys.executable, "-m", "lkbus", "consume", "analytics"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as process:
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            process.send_signal(signal.SIGKILL)
    async with service(settings) as consumer:
        await wait_for(
            lambda: summarised(db) >= SESSIONS and consumer.summaries_written + summarised(db) >= SESSIONS
        )
        await asyncio.sleep(1.5)  # past the end grace: every summary written
    assert stored(db) == expected


async def test_two_instances_give_the_clean_result(recorded: Settings, tmp_path: Path) -> None:
    expected = await clean_run(recorded, tmp_path / "clean")
    settings = settings_for(recorded, tmp_path / "pair", f"pair{random.randrange(1 << 30):x}")
    async with service(settings) as first, service(settings) as second:
        await wait_for(lambda: first.summaries_written + second.summaries_written >= SESSIONS)
    assert stored(settings.analytics.db_path) == expected
