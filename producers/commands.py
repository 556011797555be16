"""Commands back to the agent: read the commands topic and run each on the session it names.

Every worker process reads every partition from the end (no consumer group): a command is for
whichever process hosts its session; the others ignore it. Outcomes (executed / rejected with a
reason) are published on the session's own event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from lkbus.errors import LkbusError
from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings
from lkbus.topics import describe_topics
from schemas import CommandV1, DecodeError, decode

if TYPE_CHECKING:
    from producers.attachment import SessionPublication

logger = logging.getLogger("lkbus.producers.commands")
_PIN_END_TIMEOUT_S = 10


class CommandListener:
    """Runs on the publisher's loop; routes commands to the sessions this process hosts."""

    def __init__(
        self, kafka: KafkaSettings, topic: str, sessions: Callable[[str], SessionPublication | None]
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._sessions = sessions
        self._consumer: AIOKafkaConsumer | None = None
        self._consuming: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.received = 0
        self.undecodable = 0

    async def run(self) -> None:
        """Read new commands until `stop()`; reconnects while Kafka is away."""
        while not self._stopping.is_set():
            self._consuming = asyncio.get_running_loop().create_task(self._consume())
            try:
                await self._consuming
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # stop() cancelled a consumer waiting for Kafka (aiokafka's offset lookups retry
                # without end while the broker is away).
            except (KafkaError, OSError) as exc:
                logger.warning("command listener lost Kafka (%s); retrying", exc.__class__.__name__)
            except Exception:
                logger.exception("command listener failed; retrying")
            finally:
                self._consuming = None
                await self._close()
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 2)

    def stop(self) -> None:
        """Stop reading, now, whatever the consumer waits for (call it on the listener's loop)."""
        self._stopping.set()
        if self._consuming is not None:
            self._consuming.cancel()

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            **client_options(self._kafka), enable_auto_commit=False, fetch_max_wait_ms=20, group_id=None
        )
        self._consumer = consumer
        await consumer.start()
        partitions = await self._partitions()
        if not partitions:  # stopping before the topic could be read
            return
        consumer.assign(partitions)
        # Pin "the end" now, so commands sent from here on are seen. aiokafka retries this without
        # pause or end while the broker is away: give up after a while and start again.
        await asyncio.wait_for(self._pin_end(consumer, partitions), _PIN_END_TIMEOUT_S)
        self.ready.set()
        while not self._stopping.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    self._dispatch(record.value, record.headers)

    @staticmethod
    async def _pin_end(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)

    async def _partitions(self) -> list[TopicPartition]:
        while not self._stopping.is_set():
            try:
                (topic,) = await describe_topics(self._kafka, [self._topic])
            except LkbusError as exc:
                logger.warning("commands topic not available yet (%s); retrying", exc.__class__.__name__)
                await asyncio.sleep(1)
                continue
            return [TopicPartition(self._topic, p) for p in range(topic.partitions)]
        return []

    def _dispatch(self, value: bytes | None, headers: object) -> None:
        self.received += 1
        try:
            event = decode(value or b"", headers)  # type: ignore[arg-type]
        except DecodeError as exc:
            self.undecodable += 1
            logger.warning("ignored an undecodable command record: %s", exc.reason)
            return
        command = event.data
        if not isinstance(command, CommandV1):
            return
        publication = self._sessions(command.session_id)
        if publication is not None:
            publication.submit_command(command)

    async def _close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                await consumer.stop()
            except asyncio.CancelledError:
                # aiokafka's fetcher lets the cancellation of its own fetch task out of stop()
                # while the broker is away; only a cancellation of this task goes on.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                logger.debug("command consumer did not stop cleanly (a fetch was cancelled)")
            except Exception:
                logger.debug("command consumer did not stop cleanly", exc_info=True)
