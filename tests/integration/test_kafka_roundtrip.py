"""The real broker: topics, and a produce / consume round trip with acks=all and idempotence."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings, TopicSettings
from lkbus.topics import TopicSpec, create_topics, describe_topics, list_topics, project_topics


async def test_produce_and_read_back(kafka: KafkaSettings, unique: Callable[[str], str]) -> None:
    topic = unique("roundtrip")
    assert await create_topics(kafka, [TopicSpec(topic, 3, 1)]) == [topic]
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(topic, key=f"s{i % 4}".encode(), value=orjson.dumps({"n": i}))
            for i in range(40)
        ]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        **client_options(kafka), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        received: list[tuple[bytes | None, int, int]] = []
        while len(received) < 40:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            for tp, messages in batch.items():
                received.extend((m.key, tp.partition, orjson.loads(m.value or b"")["n"]) for m in messages)
    finally:
        await consumer.stop()
    assert sorted(n for _, _, n in received) == list(range(40))
    for key in {k for k, _, _ in received}:
        in_order = [n for k, _, n in received if k == key]
        assert in_order == sorted(in_order), "one key stays on one partition, in order"
        assert len({p for k, p, _ in received if k == key}) == 1
    assert {md.partition for md in sent} <= {0, 1, 2}


async def test_project_topics_are_created_once(kafka: KafkaSettings, unique: Callable[[str], str]) -> None:
    settings = TopicSettings(prefix=unique("prefix") + ".", partitions=2, retention_days=2)
    specs = project_topics(settings)
    created = await create_topics(kafka, specs)
    assert sorted(created) == sorted(s.name for s in specs)
    assert await create_topics(kafka, specs) == [], "a second create is a no-op"
    assert {s.name for s in specs} <= set(await list_topics(kafka))
    described = {d.name: d for d in await describe_topics(kafka, [s.name for s in specs])}
    session_topic = described[settings.name(settings.session_events)]
    assert session_topic.partitions == 2
    assert session_topic.replication_factor == 1
    assert session_topic.config["retention.ms"] == str(2 * 24 * 3600 * 1000)
    assert described[settings.name(settings.deadletter)].config["retention.ms"] == str(30 * 24 * 3600 * 1000)
