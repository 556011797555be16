"""Analytics throughput (topic → summaries in the store) beside a bare getmany + orjson.loads loop."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.__main__ import BenchKafka
from bench.event_mix import event_mix
from bench.report import BenchRow
from consumers.analytics.rollups import Rollups
from consumers.analytics.service import AnalyticsConsumer
from consumers.analytics.summary import SessionAccumulator
from consumers.runtime import ConsumerService
from lkbus.gc_tuning import tuned_for_batches
from lkbus.kafka import client_options
from lkbus.settings import AnalyticsSettings, ConsumerSettings, KafkaSettings, Settings, TopicSettings
from lkbus.topics import create_topics, project_topics
from schemas import EncodedRecord, SessionContext, TopicFamily, decode, encode_event, encode_session_event

SESSIONS = 1000
EVENTS_PER_SESSION = 60
PARTITIONS = 6
RUNS = 3


def run(kafka: BenchKafka) -> list[BenchRow]:
    return asyncio.run(_run(KafkaSettings(bootstrap_servers=kafka.bootstrap, client_id="lkbus-bench")))


async def _run(kafka: KafkaSettings) -> list[BenchRow]:
    topics = TopicSettings(prefix=f"bench.an.{uuid.uuid4().hex[:8]}.", partitions=PARTITIONS)
    await create_topics(kafka, project_topics(topics))
    total = await _fill(kafka, topics)
    ours, bare, folds_alone = [], [], []
    with tuned_for_batches():  # as `lkbus consume` runs (lkbus/gc_tuning.py), for both figures alike
        for _ in range(RUNS):
            bare.append(await _bare(kafka, list(topics.event_topics), total))
            folds_alone.append(await _bare(kafka, list(topics.event_topics), total, fold=True))
            ours.append(await _analytics(kafka, topics, total))
    return [
        BenchRow(
            "analytics: topic → session summaries in DuckDB",
            statistics.median(ours),
            statistics.median(bare),
            "events/s",
            "bare aiokafka getmany + orjson.loads",
            ">= 0.6x",
        ),
        BenchRow(
            "analytics: topic → session summaries in DuckDB",
            statistics.median(ours),
            statistics.median(folds_alone),
            "events/s",
            "bare getmany → decode, fold",
            "",
        ),
        BenchRow(
            "bare getmany → decode, fold",
            statistics.median(folds_alone),
            statistics.median(bare),
            "events/s",
            "bare aiokafka getmany + orjson.loads",
            "",
        ),
    ]


def _session_records(index: int) -> list[EncodedRecord]:
    ctx = SessionContext(session_id=f"bench-an-{index}", agent_name=f"agent-{index % 3}", source="bench")
    start = time.time() - 3600
    records = [encode_event("lkbus.session.started", {"agent_name": ctx.agent_name}, ctx, 1, start)]
    mix = event_mix()
    for seq in range(2, EVENTS_PER_SESSION):
        records.append(encode_session_event(mix[seq % len(mix)], ctx, seq))
    last = EVENTS_PER_SESSION
    records.append(
        encode_event(
            "lkbus.session.ended", {"reason": "user_initiated", "last_seq": last}, ctx, last, start + 60
        )
    )
    return records


async def _fill(kafka: KafkaSettings, topics: TopicSettings) -> int:
    names = {
        TopicFamily.SESSION: topics.name(topics.session_events),
        TopicFamily.USER_STATE: topics.name(topics.user_state),
        TopicFamily.ROOM: topics.name(topics.room_events),
    }
    producer = AIOKafkaProducer(
        **client_options(kafka), acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=131072
    )
    await producer.start()
    count = 0
    try:
        for i in range(SESSIONS):
            for record in _session_records(i):
                await producer.send(
                    names[record.family], record.value, key=record.key, headers=record.headers
                )
                count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def _bare(kafka: KafkaSettings, names: list[str], total: int, *, fold: bool = False) -> float:
    """The floor: getmany and orjson.loads every record. With `fold`, each record is decoded and
    folded into its session's summary and its window, as the consumer does, but in this loop:
    the per-event work alone, without the runtime, the store or the summaries' publication."""
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    sessions: dict[str, SessionAccumulator] = {}
    rollups = Rollups()
    try:
        partitions = [TopicPartition(name, p) for name in names for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < total:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for message in messages:
                    if not fold:
                        orjson.loads(message.value or b"null")
                        continue
                    event = decode(message.value or b"", message.headers)
                    accumulator = sessions.get(event.session_id)
                    if accumulator is None:
                        accumulator = sessions[event.session_id] = SessionAccumulator(event.session_id)
                    if accumulator.add(event):
                        rollups.add(event, tp)
                seen += len(messages)
        return total / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _analytics(kafka: KafkaSettings, topics: TopicSettings, total: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            kafka=kafka,
            topics=topics,
            consumer=ConsumerSettings(group_prefix=f"bench.{uuid.uuid4().hex[:8]}.", max_batch=2000),
            analytics=AnalyticsSettings(db_path=Path(folder) / "a.duckdb", end_grace_s=0),
        )
        consumer = AnalyticsConsumer()
        service = ConsumerService(consumer, settings)
        await service.start()
        try:
            await asyncio.wait_for(service.ready.wait(), 60)
            started = time.perf_counter()
            while consumer.summaries_written < SESSIONS:  # noqa: ASYNC110 - the consumer's counter is polled
                await asyncio.sleep(0.01)
            return total / (time.perf_counter() - started)
        finally:
            await service.stop()
