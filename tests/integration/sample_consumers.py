"""Consumers the runtime tests run: they record what they handled, durably, in a file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from consumers.runtime import EventConsumer, Incoming, PoisonRecordError, RetriableError
from lkbus.settings import Settings


class FileRecorder(EventConsumer):
    """Appends `topic partition offset` of each handled record to $LKBUS_TEST_RECORD_FILE (fsync'd).

    Records whose event says `reason == "poison"` fail for good; `reason == "flaky"` fails once.
    """

    name = "file-recorder"

    def __init__(self) -> None:
        self.path = Path(os.environ.get("LKBUS_TEST_RECORD_FILE", "handled.txt"))
        self.delay = float(os.environ.get("LKBUS_TEST_BATCH_DELAY", "0"))
        self.topic = os.environ.get("LKBUS_TEST_TOPIC", "")
        self._flaky_seen: set[tuple[int, int]] = set()
        self.handled: list[Incoming] = []

    def subscriptions(self, settings: Settings) -> list[str]:
        return [self.topic or settings.topics.name(settings.topics.session_events)]

    async def handle(self, batch: Sequence[Incoming]) -> None:
        for record in batch:
            reason = getattr(record.event.data, "reason", None)
            if reason == "poison":
                raise PoisonRecordError("this record can never be handled")
            if reason == "flaky" and (record.partition, record.offset) not in self._flaky_seen:
                self._flaky_seen.add((record.partition, record.offset))
                raise RetriableError("the store blinked")
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.path.open("a") as out:
            for record in batch:
                out.write(f"{record.topic} {record.partition} {record.offset}\n")
            out.flush()
            os.fsync(out.fileno())
        self.handled.extend(batch)
