"""`EventPublisher`: one per worker process, shared by all its sessions.

The Kafka producer, the memory buffer and the journal live on the publisher's own thread and
event loop, so nothing the publisher does runs on an agent's loop except the event handlers,
which only encode and enqueue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer

from lkbus.client_logs import quiet_client_lines
from lkbus.kafka import client_options, explain_connection_failure
from lkbus.settings import KafkaSettings, PublisherSettings, Settings, TopicSettings
from producers.commands import CommandListener
from producers.delivery import LARGEST_VALUE_BYTES, MAX_REQUEST_BYTES, Delivery, DeliveryStats
from producers.journal import Journal, JournalRecord
from producers.metadata_pacing import pace_metadata_updates
from producers.redaction import TextTransform, text_transform
from schemas import EncodedRecord, TopicFamily

if TYPE_CHECKING:
    from livekit import rtc
    from livekit.agents import AgentSession, JobContext

    from producers.attachment import SessionPublication

_new_tuple = tuple.__new__

logger = logging.getLogger("lkbus.producers")


class PublisherError(Exception):
    """The publisher was used in a way it does not support (e.g. before `start`)."""


class EventPublisher:
    """Publishes the events of every attached session to Kafka.

    ```python
    publisher = EventPublisher.from_settings(load_settings())
    await publisher.start()                  # once per worker process
    publisher.attach(session, ctx)           # in each job's entrypoint
    ```
    """

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings, settings: PublisherSettings) -> None:
        self.kafka = kafka
        self.topics = topics
        self.settings = settings
        self.text_transform: TextTransform | None = text_transform(settings)
        self._topic_of = {
            TopicFamily.SESSION: topics.name(topics.session_events),
            TopicFamily.USER_STATE: topics.name(topics.user_state),
            TopicFamily.ROOM: topics.name(topics.room_events),
            TopicFamily.COMMANDS: topics.name(topics.commands),
            TopicFamily.ANALYTICS: topics.name(topics.analytics_sessions),
        }
        journal = Journal(
            settings.journal_dir,
            max_bytes=settings.journal_max_bytes,
            segment_bytes=settings.journal_segment_bytes,
        )
        self._delivery = Delivery(
            self._make_producer,
            journal,
            buffer_max_events=settings.buffer_max_events,
            send_timeout_s=settings.send_timeout_s,
            explain=lambda exc: explain_connection_failure(exc, kafka),
            topics=topics.event_topics,
        )
        self._sessions: dict[str, SessionPublication] = {}
        self._commands = (
            CommandListener(kafka, topics.name(topics.commands), self._sessions.get)
            if settings.commands
            else None
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._start_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> EventPublisher:
        return cls(settings.kafka, settings.topics, settings.publisher)

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether `start` ran and `stop` has not."""
        return self._thread is not None

    async def start(self) -> None:
        """Start the publisher's thread; returns at once, even when Kafka is away.

        Idempotent, so every job's entrypoint may call it.
        """
        with self._start_lock:
            if self._thread is None:
                if self.settings.metrics_port is not None:
                    from prometheus_client import start_http_server

                    start_http_server(self.settings.metrics_port)
                self._thread = threading.Thread(
                    target=self._thread_main, args=(self._ready,), name="lkbus-publisher", daemon=True
                )
                self._thread.start()
        await asyncio.wrap_future(self._ready)

    async def stop(self) -> None:
        """Deliver what is buffered (up to `flush_timeout_s`), journal the rest, stop the thread."""
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        # One callback: once delivery stops, the thread may close its loop at any moment.
        loop.call_soon_threadsafe(self._stop_on_thread)
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(self._done)), self.settings.flush_timeout_s
            )
        except TimeoutError:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to spill
                loop.call_soon_threadsafe(self._delivery.request_spill)
            await asyncio.wrap_future(self._done)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _stop_on_thread(self) -> None:
        if self._commands is not None:
            self._commands.stop()
        self._delivery.stop()

    async def __aenter__(self) -> EventPublisher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event published so far is delivered or journaled.

        After `timeout` (default `flush_timeout_s`) what is still in memory is journaled.
        Returns whether everything was delivered or journaled.
        """
        if self._loop is None:
            return True
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._delivery.add_waiter, self._delivery.last_index, future)
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), timeout or self.settings.flush_timeout_s
            )
        except TimeoutError:
            self._loop.call_soon_threadsafe(self._delivery.request_spill)
            try:
                await asyncio.wait_for(asyncio.wrap_future(future), self.settings.send_timeout_s * 2)
            except TimeoutError:
                return False
        return True

    def stats(self) -> DeliveryStats:
        """Produced, spilled, resent, dropped and error counts, and buffer and journal sizes."""
        return self._delivery.stats()

    # --- sessions -----------------------------------------------------------------------------

    def attach(
        self,
        session: AgentSession[Any],
        ctx: JobContext | None = None,
        *,
        room: rtc.Room | None = None,
        session_id: str | None = None,
        agent_name: str | None = None,
        job_id: str | None = None,
        room_name: str | None = None,
        room_sid: str | None = None,
    ) -> SessionPublication:
        """Publish every event of `session` (and of the job's room); call before `session.start()`.

        With a JobContext the ids come from the job; without one (tests, console mode) pass them.
        """
        from producers.attachment import SessionPublication

        if self._thread is None:
            raise PublisherError("start the publisher (await publisher.start()) before attaching sessions")
        publication = SessionPublication.create(
            self,
            session,
            ctx,
            room=room,
            session_id=session_id,
            agent_name=agent_name,
            job_id=job_id,
            room_name=room_name,
            room_sid=room_sid,
        )
        self._sessions[publication.context.session_id] = publication
        if ctx is not None:
            ctx.add_shutdown_callback(publication.on_job_shutdown)
        return publication

    def forget(self, publication: SessionPublication) -> None:
        """Stop routing commands to a session that ended."""
        if self._sessions.get(publication.context.session_id) is publication:
            del self._sessions[publication.context.session_id]

    async def commands_ready(self, timeout: float = 30) -> None:
        """Wait until the command listener reads the commands topic (tests use it)."""
        if self._commands is None or self._loop is None:
            raise PublisherError("commands are off (LKBUS_PUBLISHER__COMMANDS=false)")
        ready = asyncio.run_coroutine_threadsafe(self._commands.ready.wait(), self._loop)
        await asyncio.wait_for(asyncio.wrap_future(ready), timeout)

    def publish(self, record: EncodedRecord) -> None:
        """Queue an encoded record; never blocks and never raises."""
        if len(record.value) > LARGEST_VALUE_BYTES:
            self._delivery.drop_too_large(record.type, len(record.value))
            return
        # tuple.__new__ skips the NamedTuple's Python-level __new__: this runs on the agent's loop.
        self._delivery.submit(
            _new_tuple(
                JournalRecord,
                (
                    self._topic_of[record.family],
                    record.key,
                    record.value,
                    record.headers,
                    int(record.time * 1000),
                ),
            )
        )

    # --- the publisher's thread ---------------------------------------------------------------

    def _make_producer(self) -> AIOKafkaProducer:
        s = self.settings
        producer = AIOKafkaProducer(
            **client_options(self.kafka),
            acks="all",
            enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_bytes,
            max_request_size=MAX_REQUEST_BYTES,
            # Also the age at which aiokafka gives up a batch it could not deliver; until then it
            # retries it with the same producer id and sequence, so the broker keeps it once.
            request_timeout_ms=int(max(s.send_timeout_s, s.in_flight_retry_s) * 1000),
        )
        pace_metadata_updates(producer.client)
        return producer

    async def _run_on_thread(self) -> None:
        if self._commands is None:
            await self._delivery.run()
            return
        listener = asyncio.get_running_loop().create_task(self._commands.run())
        try:
            await self._delivery.run()
        finally:
            self._commands.stop()
            await listener

    def _thread_main(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        unquiet = quiet_client_lines(threading.current_thread().name, self.settings.client_log_interval_s)
        try:
            loop.call_soon(ready.set_result, None)
            loop.run_until_complete(self._run_on_thread())
        except Exception:
            logger.exception("the publisher's delivery loop failed")
        finally:
            _cancel_remaining_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            unquiet()
            self._done.set_result(None)


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and reap what is left on the loop (as `asyncio.run` does): a Kafka client stopped
    while the broker is away may leave its own tasks behind."""
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
