"""Run a consumer over a historical range without committing anything (`lkbus consume NAME --replay`).

The consumer sees the records between two positions exactly as in service, decoded and in
timestamp order across partitions; nothing is committed and nothing is dead-lettered: failures
are counted and reported, so a consumer can be debugged against recorded sessions.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from consumers.runtime.consumer import ConsumerContext, EventConsumer
from consumers.runtime.records import Incoming, incoming
from lkbus.replay.position import Beginning, End, Position
from lkbus.replay.runner import ReplayOptions, open_source
from lkbus.replay.source import ReadRequest
from lkbus.settings import Settings
from schemas import DecodeError

logger = logging.getLogger("lkbus.consumers.replay")


@dataclass(slots=True)
class ReplayRun:
    """What a replay run did."""

    read: int = 0
    handled: int = 0
    undecodable: int = 0
    failed: int = 0
    published: list[tuple[str, bytes | None]] = field(default_factory=list)
    """Records the consumer would have sent (topic, key): not sent in a replay."""


async def replay_consumer(
    consumer: EventConsumer,
    settings: Settings,
    *,
    start: Position | None = None,
    stop: Position | None = None,
    archive: Any = None,
) -> ReplayRun:
    """Feed `consumer` the records of its topics between `start` and `stop`, committing nothing."""
    run = ReplayRun()

    async def capture(topic: str, key: bytes | None, value: bytes, headers: Any) -> None:
        run.published.append((topic, key))

    def caught_up() -> bool:
        return False  # a replay reads history: consumers must not act on the wall clock

    await consumer.start(ConsumerContext(consumer.name, settings, capture, caught_up))
    options = ReplayOptions(archive=archive)
    request = ReadRequest(
        topics=tuple(consumer.subscriptions(settings)), start=start or Beginning(), stop=stop or End()
    )
    try:
        async with open_source(settings, options) as source:
            await source.open(request)
            async with aclosing(source.batches(asyncio.Event())) as batches:
                async for batch in batches:
                    await _handle(consumer, batch, run)
    finally:
        await consumer.stop()
    return run


async def _handle(consumer: EventConsumer, batch: Any, run: ReplayRun) -> None:
    good: list[Incoming] = []
    for record in batch:
        run.read += 1
        try:
            good.append(incoming(record))
        except DecodeError as exc:
            run.undecodable += 1
            logger.warning(
                "undecodable record at %s/%d/%d: %s",
                record.topic,
                record.partition,
                record.offset,
                exc.reason.value,
            )
    for record in good:
        try:
            await consumer.handle([record])
            run.handled += 1
        except Exception as exc:  # noqa: BLE001 - a replay reports failures instead of dead-lettering
            run.failed += 1
            logger.warning(
                "%s failed on %s/%d/%d: %s",
                consumer.name,
                record.topic,
                record.partition,
                record.offset,
                exc.__class__.__name__,
            )
