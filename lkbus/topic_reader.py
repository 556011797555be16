"""Read whole topics back from Kafka (small topics: tests, the demo's checks)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings
from lkbus.topics import describe_topics


async def read_topics(
    kafka: KafkaSettings, topics: list[str], *, expect: int | None = None, timeout_s: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topics` from the beginning to their current end (or until `expect` arrived)."""
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        partitions = [
            TopicPartition(t.name, p)
            for t in await describe_topics(kafka, topics)
            for p in range(t.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ends = await consumer.end_offsets(partitions)
            positions = {tp: await _position(consumer, tp) for tp in partitions}
            if expect is None and all(positions[tp] >= ends[tp] for tp in partitions):
                break
            if expect is not None and len(records) >= expect:
                break
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
        return records
    finally:
        await consumer.stop()


async def _position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    position: int = await asyncio.wait_for(consumer.position(tp), 10)
    return position
