"""`make demo`: a produce / consume round trip through Kafka, on the local broker by default."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.table import Table

from lkbus.broker import LocalBroker
from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings, Settings
from lkbus.topics import create_topics, project_topics


@asynccontextmanager
async def kafka_for_demo(
    settings: Settings, bootstrap: str | None, console: Console
) -> AsyncIterator[KafkaSettings]:
    """`bootstrap` when given, else the local broker (stopped afterwards if we started it)."""
    if bootstrap is not None:
        yield settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
        return
    broker = LocalBroker(settings.broker)
    already_running = broker.status().running
    if not already_running:
        console.print(f"starting the local broker on {broker.bootstrap} ...")
    try:
        await broker.start()
        yield settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap})
    finally:
        if not already_running:
            broker.stop()
            console.print("local broker stopped")


async def run_demo(settings: Settings, *, records: int, bootstrap: str | None, console: Console) -> None:
    """Create the topics, send `records` events keyed by session, read them back, print a summary."""
    async with kafka_for_demo(settings, bootstrap, console) as kafka:
        created = await create_topics(kafka, project_topics(settings.topics))
        console.print(f"topics ready ({len(created)} created)")
        topic = settings.topics.name(settings.topics.session_events)
        run_id = uuid.uuid4().hex[:8]
        sessions = [f"demo-{run_id}-{i}" for i in range(10)]
        producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True, linger_ms=5)
        await producer.start()
        started = time.perf_counter()
        try:
            futures = [
                await producer.send(
                    topic,
                    key=sessions[i % len(sessions)].encode(),
                    value=orjson.dumps({"run": run_id, "seq": i // len(sessions) + 1, "n": i}),
                )
                for i in range(records)
            ]
            metadata = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        produced_s = time.perf_counter() - started
        received = await _read_back(kafka, topic, run_id, metadata, records)
        table = Table("step", "records", "seconds")
        table.add_row("produced (acks=all, idempotent)", str(records), f"{produced_s:.2f}")
        table.add_row("consumed back", str(received), f"{time.perf_counter() - started - produced_s:.2f}")
        console.print(table)
        if received != records:
            raise RuntimeError(f"sent {records} records but read back {received}")
        console.print(f"[green]round trip ok[/]: {records} records through {kafka.bootstrap_servers}")


async def _read_back(
    kafka: KafkaSettings, topic: str, run_id: str, metadata: list[object], expected: int
) -> int:
    starts: dict[TopicPartition, int] = {}
    ends: dict[TopicPartition, int] = {}
    for md in metadata:
        tp = TopicPartition(md.topic, md.partition)  # type: ignore[attr-defined]
        starts[tp] = min(starts.get(tp, md.offset), md.offset)  # type: ignore[attr-defined]
        ends[tp] = max(ends.get(tp, 0), md.offset + 1)  # type: ignore[attr-defined]
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    received = 0
    try:
        consumer.assign(list(ends))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        pending = dict(ends)
        while pending:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if orjson.loads(message.value or b"{}").get("run") == run_id:
                        received += 1
                if messages and messages[-1].offset + 1 >= pending.get(tp, 0):
                    pending.pop(tp, None)
            if not batch and received >= expected:
                break
    finally:
        await consumer.stop()
    return received
