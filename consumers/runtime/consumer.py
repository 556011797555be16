"""The contract between the runtime and a consumer: what it reads, how it handles, how far it commits."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from aiokafka import TopicPartition

from consumers.runtime.records import Incoming
from lkbus.settings import Settings

Publish = Callable[[str, bytes | None, bytes, Sequence[tuple[str, bytes]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ConsumerContext:
    """What the runtime gives a consumer when it starts."""

    name: str
    settings: Settings
    publish: Publish
    """Send a record and wait until Kafka has it (acks=all): (topic, key, value, headers)."""
    caught_up: Callable[[], bool]
    """Whether the last fetch drained what was there (no backlog being replayed)."""


class EventConsumer(ABC):
    """A consumer service: `lkbus consume NAME` runs one in its own consumer group.

    The runtime decodes records (undecodable ones go to the dead-letter topic), calls `handle`,
    and commits offsets only after `handle` returned: effects must be durable by then and
    idempotent, since a crash between effect and commit delivers the records again.
    Raise `RetriableError` for a passing failure, anything else for a record that can never
    be processed; either way, the record ends in the dead-letter topic if it keeps failing.
    """

    name: ClassVar[str]

    @property
    def needs_events(self) -> bool:
        """False: `handle` gets `Checked` records (valid events, not decoded), for consumers that
        only move records (the archive); checking costs a fraction of decoding. Read at each batch."""
        return True

    @abstractmethod
    def subscriptions(self, settings: Settings) -> list[str]:
        """The topics to read."""

    def output_topics(self, settings: Settings) -> list[str]:
        """Topics `context.publish` sends to (beyond the dead-letter topic). The runtime fetches
        their metadata at start, so the first record sent (a first prompt) does not wait for it."""
        return []

    async def start(self, context: ConsumerContext) -> None:
        """Open stores, start timers. Called once before the first batch."""
        self.context = context

    async def stop(self) -> None:  # noqa: B027 - an optional hook
        """Flush and close. Called once after the last batch (also on SIGTERM)."""

    async def handle(self, batch: Sequence[Incoming]) -> None:
        """Handle a batch of decoded records; by default one by one with `handle_one`."""
        for record in batch:
            await self.handle_one(record)

    async def handle_one(self, record: Incoming) -> None:
        """Handle one record (override this or `handle`)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither handle nor handle_one")

    def commit_offsets(self, processed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """How far offsets may be committed, given the next offset after what was handled.

        Consumers that keep state rebuilt from the topic hold commits back (e.g. to the first
        record of a session still open).
        """
        return processed

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:  # noqa: B027 - an optional hook
        """Partitions this instance now reads (after a rebalance)."""

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:  # noqa: B027 - an optional hook
        """Partitions another instance takes over: drop their state."""
