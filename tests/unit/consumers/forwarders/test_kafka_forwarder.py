"""The Kafka forwarder with a stand-in producer: what is sent, and how failures are classed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, NotLeaderForPartitionError

from consumers.forwarders import (
    ForwarderSettingsError,
    KafkaForwarder,
    KafkaForwarderSettings,
    TargetRejectedError,
    TargetUnavailableError,
    TransformError,
)
from consumers.runtime import ConsumerContext
from lkbus.settings import KafkaSettings, Settings
from tests.unit.consumers.forwarders.samples import ended, incoming, started

MODULE = "tests.unit.consumers.forwarders.sample_transforms"


class FakeProducer:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []
        self.fail = fail

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail is not None:
            future.set_exception(self.fail)
        else:
            self.sent.append((topic, value, key, headers or []))
            future.set_result(None)
        return future


async def _publish(topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
    raise AssertionError("not used")


def forwarder(producer: FakeProducer, **options: Any) -> KafkaForwarder:
    fw = KafkaForwarder(KafkaForwarderSettings(topic="out", **options))
    fw.prepare(Settings())
    fw._producer = producer
    return fw


async def test_keys_headers_and_values_are_kept() -> None:
    producer = FakeProducer()
    records = [incoming(ended(seq=s), offset=s) for s in (1, 2)]
    await forwarder(producer).handle(records)
    assert producer.sent == [("out", r.value, r.key, list(r.headers)) for r in records]


async def test_selected_and_transformed() -> None:
    producer = FakeProducer()
    fw = forwarder(producer, transform=f"{MODULE}:tag", agents=["sales"])
    await fw.handle([incoming(started()), incoming(ended(seq=2)), incoming(ended(seq=3, agent_name="x"))])
    assert [orjson.loads(v)["seq"] for _, v, _, _ in producer.sent] == [2]
    assert fw.forwarded == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (KafkaTimeoutError(), TargetUnavailableError),
        (NotLeaderForPartitionError(), TargetUnavailableError),
        (MessageSizeTooLargeError(), TargetRejectedError),
    ],
)
async def test_failures_are_classed(error: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        await forwarder(FakeProducer(error)).handle([incoming(ended())])


async def test_a_transform_failure_is_dead_lettered_not_retried() -> None:
    with pytest.raises(TransformError):
        await forwarder(FakeProducer(), transform=f"{MODULE}:broken").handle([incoming(ended())])


async def test_start_refuses_to_read_its_own_output() -> None:
    settings = Settings()
    fw = KafkaForwarder(KafkaForwarderSettings(topic=settings.topics.name(settings.topics.session_events)))
    with pytest.raises(ForwarderSettingsError, match="its own output"):
        await fw.start(ConsumerContext("kafka-forwarder", settings, _publish, lambda: True))


async def test_start_needs_a_topic() -> None:
    fw = KafkaForwarder(KafkaForwarderSettings(target=KafkaSettings(bootstrap_servers="elsewhere:9092")))
    with pytest.raises(ForwarderSettingsError, match="LKBUS_FORWARD_KAFKA__TOPIC"):
        await fw.start(ConsumerContext("kafka-forwarder", Settings(), _publish, lambda: True))
