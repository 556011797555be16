"""The forwarders against real Kafka and a real HTTP server on 127.0.0.1.

HTTP: CloudEvents structured JSON that the CloudEvents SDK reads, signatures that verify, 5xx
retried with the same id, dead letters once the retry budget is spent, and nothing lost when
the forwarder is stopped mid-stream and started again. Kafka: events land in the target topic
transformed, with their keys and headers.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.http import HTTPMessage, from_http_event

from consumers.forwarders import (
    SIGNATURE_HEADER,
    HttpForwarder,
    HttpForwarderSettings,
    KafkaForwarder,
    KafkaForwarderSettings,
    verify_signature,
)
from consumers.runtime import ConsumerService
from consumers.runtime.deadletter import error_context
from lkbus.kafka import client_options
from lkbus.settings import ConsumerSettings, KafkaSettings, Settings, TopicSettings
from lkbus.topic_reader import read_topics
from lkbus.topics import TopicSpec, create_topics, project_topics
from schemas import SessionContext, encode_event

SECRET = "integration-secret-0123456789"
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


@dataclass
class Receiver:
    """A webhook endpoint: fails the first `fail_first` attempts of each event id, or always with `status`."""

    fail_first: int = 0
    status: int | None = None
    delay_s: float = 0.0
    attempts: Counter[str] = field(default_factory=Counter)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = orjson.loads(body)["id"]
        self.attempts[event_id] += 1
        if self.status is not None:
            return web.Response(status=self.status)
        if self.attempts[event_id] <= self.fail_first:
            return web.Response(status=503)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)

    def ids(self) -> list[str]:
        return [orjson.loads(body)["id"] for _, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    app = web.Application()
    app.router.add_post("/hook", endpoint.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    endpoint.url = f"http://{host}:{port}/hook"
    yield endpoint
    await runner.cleanup()


@pytest.fixture
async def settings(kafka: KafkaSettings, unique: Callable[[str], str]) -> Settings:
    topics = TopicSettings(prefix=unique("fwd") + ".", partitions=2)
    await create_topics(kafka, project_topics(topics))
    return Settings(
        kafka=kafka,
        topics=topics,
        consumer=ConsumerSettings(
            group_prefix=unique("g") + ".",
            session_timeout_ms=6000,
            retry_backoff_s=0.01,
            fetch_max_wait_ms=20,
            max_batch=20,
        ),
    )


def events(session: str, agent: str, count: int, start: float = 1_700_000_000.0) -> list[Record]:
    ctx = SessionContext(session_id=session, agent_name=agent, source="lkbus/test-worker")
    records = []
    for seq in range(1, count + 1):
        if seq == 1:
            r = encode_event("lkbus.session.started", {"agent_name": agent}, ctx, seq, start)
        else:
            r = encode_event(
                "lkbus.session.ended",
                {"reason": f"r{seq}", "last_seq": seq, "event_counts": {}},
                ctx,
                seq,
                start + seq,
            )
        records.append((r.key, r.value, r.headers))
    return records


def ids_of(records: list[Record]) -> list[str]:
    return [orjson.loads(value)["id"] for _, value, _ in records]


async def produce(kafka: KafkaSettings, topic: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def wait_until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def http(receiver: Receiver, **options: Any) -> HttpForwarder:
    base: dict[str, Any] = {"url": receiver.url, "secret": SECRET, "backoff_s": 0.01, "timeout_s": 5}
    return HttpForwarder(HttpForwarderSettings(**(base | options)))


async def test_selected_events_arrive_as_signed_cloudevents_in_order(
    settings: Settings, receiver: Receiver
) -> None:
    topic = settings.topics.name(settings.topics.session_events)
    sales, support = events("s-sales", "sales", 8), events("s-support", "support", 4)
    await produce(settings.kafka, topic, sales + support)
    service = ConsumerService(http(receiver, types=["ended"], filter='agent_name in ["sales"]'), settings)
    await service.start()
    try:
        await wait_until(lambda: service.processed >= 12 and len(receiver.received) >= 7)
    finally:
        await service.stop()

    assert receiver.ids() == ids_of(sales)[1:], "the sales session's ended events, once each, in order"
    for headers, body in receiver.received:
        event = from_http_event(HTTPMessage(headers=headers, body=body))
        assert event.get_type() == "lkbus.session.ended"
        assert event.get_extension("sessionid") == "s-sales"
        assert event.get_extension("agentname") == "sales"
        assert headers["Content-Type"] == "application/cloudevents+json"
        assert headers["Idempotency-Key"] == event.get_id()
        verify_signature(body, headers[SIGNATURE_HEADER], SECRET, 60)
    assert [orjson.loads(b)["seq"] for _, b in receiver.received] == list(range(2, 9))


async def test_5xx_is_retried_and_delivered_with_the_same_id(settings: Settings, receiver: Receiver) -> None:
    receiver.fail_first = 2
    topic = settings.topics.name(settings.topics.session_events)
    sent = events("s-1", "sales", 3)
    await produce(settings.kafka, topic, sent)
    # One attempt per delivery: the consumer runtime's retries do the retrying.
    service = ConsumerService(http(receiver, max_attempts=1), settings)
    await service.start()
    try:
        await wait_until(lambda: service.processed >= 3 and len(receiver.received) >= 3)
    finally:
        await service.stop()
    assert receiver.ids() == ids_of(sent)
    assert all(receiver.attempts[i] == 3 for i in ids_of(sent)), receiver.attempts
    assert service.dead_lettered == 0


async def test_an_endpoint_that_keeps_failing_sends_records_to_the_dead_letter_topic(
    settings: Settings, receiver: Receiver
) -> None:
    receiver.status = 500
    topic = settings.topics.name(settings.topics.session_events)
    sent = events("s-1", "sales", 2)
    await produce(settings.kafka, topic, sent)
    service = ConsumerService(http(receiver, max_attempts=2), settings)
    await service.start()
    try:
        await wait_until(lambda: service.dead_lettered >= 2)
    finally:
        await service.stop()
    letters = await read_topics(settings.kafka, [settings.topics.name(settings.topics.deadletter)], expect=2)
    assert sorted(r.value for r in letters) == sorted(value for _, value, _ in sent)
    for record in letters:
        context = error_context(list(record.headers))
        assert context["consumer"] == "http-forwarder"
        assert context["class"] == "EndpointUnavailableError"
        assert context["topic"] == topic
        assert "500" in context["message"]
        assert record.key == b"s-1"
    assert all(receiver.attempts[i] >= 2 * (settings.consumer.retry_attempts + 1) for i in ids_of(sent))


async def test_nothing_is_lost_across_a_restart(settings: Settings, receiver: Receiver) -> None:
    receiver.delay_s = 0.01
    topic = settings.topics.name(settings.topics.session_events)
    sent = [r for s in range(6) for r in events(f"s-{s}", "sales", 40)]
    await produce(settings.kafka, topic, sent)

    first = ConsumerService(http(receiver, concurrency=2), settings)
    await first.start()
    try:
        await wait_until(lambda: len(receiver.received) >= 60)
    finally:
        await first.stop()
    assert len(set(receiver.ids())) < len(sent), "stopped in the middle"

    second = ConsumerService(http(receiver, concurrency=2), settings)
    await second.start()
    try:
        await wait_until(lambda: set(receiver.ids()) >= set(ids_of(sent)), timeout=40)
    finally:
        await second.stop()
    assert set(receiver.ids()) == set(ids_of(sent)), "deduplicated by id: exactly the events sent"
    duplicates = len(receiver.ids()) - len(sent)
    assert duplicates <= settings.consumer.max_batch * 2, "at most the batches in flight are re-sent"


async def test_kafka_forwarder_writes_transformed_events_with_keys_and_headers(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    target_topic = unique("fwd-out")
    await create_topics(settings.kafka, [TopicSpec(target_topic, partitions=2, replication_factor=1)])
    topic = settings.topics.name(settings.topics.session_events)
    sent = events("s-1", "sales", 5) + events("s-2", "support", 5)
    await produce(settings.kafka, topic, sent)
    forwarder = KafkaForwarder(
        KafkaForwarderSettings(
            topic=target_topic,
            target=settings.kafka,
            agents=["sales"],
            transform="tests.unit.consumers.forwarders.sample_transforms:tag",
        )
    )
    service = ConsumerService(forwarder, settings)
    await service.start()
    try:
        await wait_until(lambda: service.processed >= 10)
    finally:
        await service.stop()
    out = await read_topics(settings.kafka, [target_topic], expect=4)
    originals = {orjson.loads(value)["id"]: (key, headers) for key, value, headers in sent}
    assert sorted(orjson.loads(r.value)["seq"] for r in out) == [2, 3, 4, 5]
    for record in out:
        value = orjson.loads(record.value)
        assert value["forwarded"] is True
        key, headers = originals[value["id"]]
        assert record.key == key == b"s-1"
        assert list(record.headers) == headers
    assert [orjson.loads(r.value)["seq"] for r in sorted(out, key=lambda r: r.offset)] == [2, 3, 4, 5]
