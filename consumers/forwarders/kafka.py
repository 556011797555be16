"""The Kafka forwarder: selected events to another topic, on this cluster or another one.

`lkbus consume kafka-forwarder`. Each selected record is written to `LKBUS_FORWARD_KAFKA__TOPIC`
with its key and headers, its value unchanged, projected onto `fields`, or rewritten by a
`transform` function (None drops the event). The producer is idempotent with acks=all, and
`handle` returns only when the target acknowledged every record of the batch, so offsets are
committed only for what landed; a restart re-sends at most the batch in flight (records keep
their event id, so the target's readers can deduplicate).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError

from consumers.forwarders.exceptions import (
    ForwarderSettingsError,
    TargetRejectedError,
    TargetUnavailableError,
)
from consumers.forwarders.selection import Selector
from consumers.forwarders.settings import KafkaForwarderSettings, kafka_settings, source_topics
from consumers.forwarders.transform import (
    Transform,
    identity,
    load_user_transform,
    projection,
    user_transform,
)
from consumers.runtime import ConsumerContext, EventConsumer, Incoming
from lkbus.kafka import client_options
from lkbus.settings import Settings

logger = logging.getLogger("lkbus.consumers.forwarders.kafka")


class KafkaForwarder(EventConsumer):
    """`lkbus consume kafka-forwarder` (settings `LKBUS_FORWARD_KAFKA__*`)."""

    name = "kafka-forwarder"

    def __init__(self, settings: KafkaForwarderSettings | None = None) -> None:
        """`settings` default to the environment (read at start)."""
        self._given = settings
        self._producer: AIOKafkaProducer | None = None
        self.forwarded = 0

    def config(self, settings: Settings) -> KafkaForwarderSettings:
        """The forwarder's settings (given, from `settings`, or from the environment)."""
        if self._given is None:
            self._given = kafka_settings(settings)
        return self._given

    def subscriptions(self, settings: Settings) -> list[str]:
        return source_topics(self.config(settings), settings.topics)

    def prepare(self, settings: Settings) -> KafkaForwarderSettings:
        """Check the settings and build the selection and the transform (no network)."""
        config = self.config(settings)
        if not config.topic:
            raise ForwarderSettingsError("set LKBUS_FORWARD_KAFKA__TOPIC to the topic events go to")
        target = config.target or settings.kafka
        if (
            target.bootstrap_servers == settings.kafka.bootstrap_servers
            and config.topic in self.subscriptions(settings)
        ):
            raise ForwarderSettingsError(
                f"the kafka forwarder would read its own output: {config.topic!r} is also a source topic"
            )
        self.topic = config.topic
        self.target = target
        self.selector = Selector.of(config.types, config.agents, config.filter)
        self.transform: Transform
        if config.transform:
            self.transform = user_transform(load_user_transform(config.transform))
        elif config.fields:
            self.transform = projection(config.fields)
        else:
            self.transform = identity
        return config

    async def start(self, context: ConsumerContext) -> None:
        await super().start(context)
        config = self.prepare(context.settings)
        producer = AIOKafkaProducer(
            **client_options(self.target),
            acks="all",
            enable_idempotence=True,
            compression_type=None if config.compression == "none" else config.compression,
            linger_ms=config.linger_ms,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise TargetUnavailableError(f"target cluster unreachable ({type(exc).__name__})") from exc
        self._producer = producer
        logger.info("kafka-forwarder %s: forwarding to topic %s", self.name, self.topic)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def handle(self, batch: Sequence[Incoming]) -> None:
        producer = self._producer
        assert producer is not None, "the forwarder is not started"
        pending: list[asyncio.Future[Any]] = []
        error: Exception | None = None
        try:
            for record in batch:
                if not self.selector(record.event):
                    continue
                value = self.transform(record)
                if value is None:
                    continue
                pending.append(
                    await producer.send(self.topic, value, key=record.key, headers=list(record.headers))
                )
        except Exception as exc:  # noqa: BLE001 - raised below, once what was sent has settled
            error = exc
        results = await asyncio.gather(*pending, return_exceptions=True)
        if error is None:
            error = next((r for r in results if isinstance(r, Exception)), None)
        if error is None:
            self.forwarded += len(pending)
            return
        if isinstance(error, KafkaError):
            if error.retriable or isinstance(error, KafkaTimeoutError):
                raise TargetUnavailableError(
                    f"target did not take the record ({type(error).__name__})"
                ) from error
            raise TargetRejectedError(f"target refused the record ({type(error).__name__})") from error
        raise error
