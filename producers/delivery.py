"""The delivery loop: memory buffer → Kafka, spilling to the journal while Kafka is away.

Runs on the publisher's own thread and event loop. Order is kept by one rule: records are sent
in the order [in flight] [memory buffer] [journal]; a record goes to the journal whenever the
journal is not empty, Kafka is away, or memory is full, and records that failed in flight are
put back in front of the journal (`Journal.prepend`, `Journal.settle_front`). The journal is
always written before anything is deleted from it, so a crash at any moment loses at most the
newest records, those still in memory; never one older than a record it keeps.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from producers import metrics
from producers.batches import send_batches
from producers.journal import Journal, JournalRecord

logger = logging.getLogger("lkbus.producers.delivery")

Indexed = tuple[int, JournalRecord]
ProducerFactory = Callable[[], AIOKafkaProducer]

_BATCH = 4000
_PROBE_BATCH = 100
_WAKE_BACKLOG = 1000
"""Records waiting in the inbox that wake the loop even while a batch is in flight."""
_DROP_LOG_INTERVAL_S = 10.0
_ABANDON_TIMEOUT_S = 2.0
"""How long a closing client's sender may take to wind down (its requests in flight end first)."""
MAX_REQUEST_BYTES = 1_048_576
"""The producer's `max_request_size` (aiokafka's default; under the broker's `message.max.bytes`)."""
LARGEST_VALUE_BYTES = MAX_REQUEST_BYTES - 16_384
"""Larger values can never be sent (room is left for key, headers and framing): they are dropped,
counted and logged, where retrying or journaling them would hold up every record behind them."""


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Counters of one publisher since it started."""

    produced: int
    spilled: int
    resent: int
    dropped: int
    send_errors: int
    buffered: int
    journal_bytes: int
    kafka_available: bool


class Delivery:
    """Owns the Kafka producer, the memory buffer and the journal. Call only from its loop,
    except `submit`, which any thread may call."""

    def __init__(
        self,
        make_producer: ProducerFactory,
        journal: Journal,
        *,
        buffer_max_events: int,
        send_timeout_s: float,
        retry_backoff_max_s: float = 5.0,
        explain: Callable[[BaseException], Awaitable[object]] | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        self._explain = explain
        self._topics = list(topics)
        """The topics records go to: their metadata is fetched when a client starts."""
        self._send_timeout = send_timeout_s
        self._sending: asyncio.Task[None] | None = None
        self._send_started = 0.0
        self._make_producer = make_producer
        self._journal = journal
        self._buffer_max = buffer_max_events
        self._backoff_max = retry_backoff_max_s
        self._inbox: collections.deque[Indexed] = collections.deque()
        self._memory: collections.deque[Indexed] = collections.deque()
        self._in_flight: list[Indexed] = []
        self._in_flight_copy: tuple[int | None, int] | None = None
        """The journal segment holding a copy of the batch in flight, and how many records."""
        self._producer: AIOKafkaProducer | None = None
        self._available = False
        self._next_probe = 0.0
        self._backoff = 0.2
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._sleeping = False
        self._backlog_wake = False
        self._stopping = False
        self._waiters: list[tuple[int, concurrent.futures.Future[None]]] = []
        self._spill_requested = False
        self._indexes = itertools.count(1)
        self._counter = 0
        self._produced = self._spilled = self._resent = self._dropped = self._send_errors = 0
        self._dropped_unlogged = 0
        self._last_drop_log = 0.0
        self._too_large = 0

    # --- any thread -------------------------------------------------------------------------

    def submit(self, record: JournalRecord) -> int:
        """Queue a record for delivery; returns its index (for `flush`). Never blocks, never raises."""
        index = next(self._indexes)
        self._counter = index
        inbox = self._inbox
        inbox.append((index, record))
        if (self._sleeping or (len(inbox) >= _WAKE_BACKLOG and not self._backlog_wake)) and self._loop:
            # Each wake costs the agent's thread a GIL hand-over, so they are few: when the
            # loop is idle, or when a backlog built up behind a batch waiting for its acks.
            self._sleeping = False
            self._backlog_wake = True
            self._loop.call_soon_threadsafe(self._wake.set)
        return index

    @property
    def last_index(self) -> int:
        return self._counter

    def drop_too_large(self, event_type: str, size: int) -> None:
        """Count and log a record too large for Kafka (see `LARGEST_VALUE_BYTES`)."""
        self._too_large += 1  # its own counter: the delivery thread writes `_dropped`
        metrics.EVENTS_DROPPED.inc()
        logger.error(
            "dropped a %s event of %d bytes: over the %d-byte limit of a Kafka record",
            event_type,
            size,
            LARGEST_VALUE_BYTES,
        )

    def stats(self) -> DeliveryStats:
        return DeliveryStats(
            produced=self._produced,
            spilled=self._spilled,
            resent=self._resent,
            dropped=self._dropped + self._too_large,
            send_errors=self._send_errors,
            buffered=len(self._memory) + len(self._inbox) + len(self._in_flight),
            journal_bytes=self._journal.size_bytes,
            kafka_available=self._available,
        )

    # --- the publisher's loop ---------------------------------------------------------------

    def add_waiter(self, index: int, future: concurrent.futures.Future[None]) -> None:
        """Resolve `future` once every record up to `index` is delivered or journaled."""
        self._waiters.append((index, future))
        self._settle_waiters()

    def request_spill(self) -> None:
        """Journal everything still in memory (a flush ran out of time)."""
        self._spill_requested = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until `stop()` is called and everything is delivered or journaled."""
        self._loop = asyncio.get_running_loop()
        self._journal.open()
        await self._connect()
        try:
            while True:
                self._route_inbox()
                if self._spill_requested:
                    self._spill_requested = False
                    if self._stopping and self._sending is not None:
                        # Closing ran out of time while a batch waits for Kafka: its copy in the
                        # journal is sent by the next start (at least once).
                        self._spill_memory(with_in_flight=True)
                        self._sending.cancel()
                    else:
                        self._spill_memory()
                if self._sending is not None and self._sending.done():
                    if not self._sending.cancelled() and self._sending.exception() is not None:
                        logger.error("delivery step failed", exc_info=self._sending.exception())
                    self._sending = None
                if self._sending is None:
                    if self._stopping and not self._inbox and not self._memory:
                        break
                    self._sending = self._next_send()
                elif self._available and time.monotonic() - self._send_started > self._send_timeout:
                    # Kafka stopped answering: journal what waits behind the stuck batch.
                    logger.warning(
                        "Kafka has not acknowledged for %.0f s; spilling to the journal", self._send_timeout
                    )
                    self._enter_outage(new_client=False)  # the stuck batch is still its client's
                    self._spill_memory(with_in_flight=True)
                self._settle_waiters()
                self._update_gauges()
                await self._sleep()
        finally:
            if self._sending is not None:
                await asyncio.gather(self._sending, return_exceptions=True)
            self._spill_memory()
            self._journal.close()
            self._settle_waiters(force=True)
            if self._available and self._producer is not None:
                await _quietly_stop(self._producer)
            elif self._producer is not None:
                # With Kafka away there is nothing to flush (what waits is journaled), and waiting
                # would only delay closing.
                await _abandon(self._producer)
            self._update_gauges()

    def stop(self) -> None:
        """Ask `run` to finish: deliver or journal what is left, then return."""
        self._stopping = True
        self._wake.set()

    def _next_send(self) -> asyncio.Task[None] | None:
        """Start the next unit of sending work, if there is any now."""
        if not self._available:
            if self._stopping:
                self._spill_memory()
                return None
            if time.monotonic() < self._next_probe or self._journal.is_empty:
                return None
            return self._start(self._probe())
        if self._memory:
            batch = [self._memory.popleft() for _ in range(min(_BATCH, len(self._memory)))]
            self._in_flight = batch  # unsettled from now on, before the task first runs
            return self._start(self._send_from_memory(batch))
        if not self._journal.is_empty and not self._stopping:
            return self._start(self._send_from_journal(_BATCH))
        return None

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        self._send_started = time.monotonic()
        task = asyncio.get_running_loop().create_task(work)
        task.add_done_callback(lambda _: self._wake.set())
        return task

    def _route_inbox(self) -> None:
        inbox, memory = self._inbox, self._memory
        self._backlog_wake = False
        if self._available and self._journal.is_empty:
            room = self._buffer_max - len(memory)
            while inbox and room > 0:
                memory.append(inbox.popleft())
                room -= 1
        if inbox:
            spill = []
            while inbox:
                spill.append(inbox.popleft()[1])
            self._append_to_journal(spill)

    async def _send_from_memory(self, batch: list[Indexed]) -> None:
        failed = await self._send([r for _, r in batch])
        self._in_flight = []
        copy, self._in_flight_copy = self._in_flight_copy, None
        retry = [batch[i][1] for i in failed] if failed is not None else []
        if copy is not None:
            # The batch's copy is at the front of the journal (memory was spilled behind it, and
            # stays empty while Kafka is away): keep the failed records of it, drop the rest.
            self._journal.settle_front(*copy, retry)
            self._spilled += len(retry)
            metrics.EVENTS_SPILLED.inc(len(retry))
            retry = []
        if failed is None:
            return
        self._enter_outage()
        self._spill_memory(before=retry)

    async def _send_from_journal(self, limit: int) -> None:
        batch = self._journal.peek(limit)
        if not batch:
            return
        segment = self._journal.reading_segment
        failed = await self._send(batch)
        self._journal.settle_front(segment, len(batch), [batch[i] for i in failed or ()])
        delivered = len(batch) - (len(failed) if failed else 0)
        self._resent += delivered
        metrics.EVENTS_RESENT.inc(delivered)
        if failed is not None:
            self._enter_outage()

    async def _send(self, records: list[JournalRecord]) -> list[int] | None:
        """Send and wait for acknowledgement; the indexes that failed, or None when all went."""
        producer = self._producer
        if producer is None:
            return list(range(len(records)))
        started = time.perf_counter()
        outcome = await send_batches(producer, records)
        if isinstance(outcome.error, KafkaError | OSError):
            logger.warning(
                "Kafka refused a send (%s); spilling to the journal", outcome.error.__class__.__name__
            )
        elif outcome.error is not None:
            # Never lose a batch to a bug or a client surprise: what was not handed over is journaled.
            logger.error(
                "sending to Kafka failed unexpectedly; spilling to the journal", exc_info=outcome.error
            )
        failed = outcome.not_handed_over(len(records)) if outcome.error is not None else []
        errors: list[BaseException] = []
        for batch in outcome.batches:
            try:
                await batch.future
            except Exception as exc:  # noqa: BLE001 - a failed batch is journaled and resent
                errors.append(exc)
                failed += batch.indexes
        failed.sort()
        delivered = len(records) - len(failed)
        self._produced += delivered
        metrics.EVENTS_PRODUCED.inc(delivered)
        metrics.SEND_LATENCY.observe(time.perf_counter() - started)
        if not failed:
            self._backoff = 0.2
            return None
        self._send_errors += 1
        metrics.SEND_ERRORS.inc()
        first = errors[0] if errors else outcome.error
        logger.warning(
            "Kafka did not acknowledge %d of %d events (%s); spilling to the journal",
            len(failed),
            len(records),
            first.__class__.__name__ if first else "send refused",
        )
        return failed

    async def _probe(self) -> None:
        """While Kafka is away: reconnect if needed and try the journal's first records."""
        if self._producer is None:
            await self._connect()
            if self._producer is None:
                return
        self._available = True
        await self._send_from_journal(_PROBE_BATCH)
        if self._available:
            logger.info("Kafka is back; sending %d journaled bytes", self._journal.size_bytes)

    async def _connect(self) -> None:
        producer = self._make_producer()
        try:
            # aiokafka asks for a producer id without end when the broker goes away between its
            # first metadata and that answer; stop() cannot reach this step, only the timeout can.
            await asyncio.wait_for(producer.start(), self._send_timeout)
            if self._topics:
                # In one refresh now, rather than one per topic at its first send (refreshes are
                # paced: see metadata_pacing.py).
                await asyncio.wait_for(producer.client.set_topics(self._topics), self._send_timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            await _quietly_stop(producer)
            reason = await self._explain(exc) if self._explain is not None else exc.__class__.__name__
            logger.warning("Kafka unreachable (%s); events spill to the journal", reason)
            self._enter_outage()
            return
        self._producer = producer
        self._available = True

    def _enter_outage(self, *, new_client: bool = True) -> None:
        self._available = False
        self._next_probe = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self._backoff_max)
        if new_client and self._producer is not None:
            # Probes start a fresh client, which fails at once while Kafka is away; one kept would
            # retry each probe's batch, and its metadata without pause, until the batch expires.
            # (A fresh client also gets past aiokafka staying stuck after a broker restart.)
            producer, self._producer = self._producer, None
            asyncio.get_running_loop().create_task(_abandon(producer))

    def _spill_memory(
        self, *, before: list[JournalRecord] | None = None, with_in_flight: bool = False
    ) -> None:
        """Journal the memory buffer in front of everything, after `before` and, with
        `with_in_flight`, after a copy of the batch Kafka has not acknowledged (dropped again once
        its outcome is known). One write, so a crash at any point after it loses none of them."""
        records = list(before or ())
        copied = 0
        if with_in_flight and self._in_flight_copy is None:
            copied = len(self._in_flight)
            records = [r for _, r in self._in_flight] + records
        records += [r for _, r in self._memory]
        self._memory.clear()
        if self._journal.is_empty:
            while self._inbox:
                records.append(self._inbox.popleft()[1])
        if records:
            written = self._journal.prepend(records, unbudgeted=copied) - copied
            if copied:
                self._in_flight_copy = (self._journal.first_segment, copied)
            self._spilled += written
            metrics.EVENTS_SPILLED.inc(written)
            self._count_dropped(len(records) - copied - written)
        self._route_inbox()  # the newest records, behind the journal (its own write, last)

    def _append_to_journal(self, records: list[JournalRecord]) -> None:
        written = self._journal.append(records)
        self._spilled += written
        metrics.EVENTS_SPILLED.inc(written)
        self._count_dropped(len(records) - written)

    def _count_dropped(self, count: int) -> None:
        if count <= 0:
            return
        self._dropped += count
        self._dropped_unlogged += count
        metrics.EVENTS_DROPPED.inc(count)
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:
            logger.error(
                "dropped %d event(s): Kafka is away and the journal's disk budget (%d bytes) is full",
                self._dropped_unlogged,
                self._journal.max_bytes,
            )
            self._dropped_unlogged = 0
            self._last_drop_log = now

    def _settled_below(self) -> int:
        firsts = [q[0][0] for q in (self._in_flight, self._memory, self._inbox) if q]
        return min(firsts) if firsts else self._counter + 1

    def _settle_waiters(self, *, force: bool = False) -> None:
        if not self._waiters:
            return
        settled = self._settled_below()
        keep = []
        for index, future in self._waiters:
            if force or index < settled:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((index, future))
        self._waiters = keep

    def _update_gauges(self) -> None:
        metrics.BUFFER_EVENTS.set(len(self._memory) + len(self._in_flight))
        metrics.JOURNAL_BYTES.set(self._journal.size_bytes)

    async def _sleep(self) -> None:
        self._wake.clear()
        # While a batch is in flight, new records wait for its outcome (which wakes this loop);
        # while Kafka is away, each one is journaled at once.
        self._sleeping = self._sending is None or not self._available
        waiting = len(self._inbox)
        if (
            (waiting and self._sleeping)
            or waiting >= _WAKE_BACKLOG
            or self._spill_requested
            or (self._stopping and self._sending is None)
        ):
            self._sleeping = False
            return
        if self._sending is not None:
            timeout = self._send_timeout
        elif self._available:
            timeout = 0.5
        else:
            timeout = max(0.05, self._next_probe - time.monotonic())
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._sleeping = False


async def _abandon(producer: AIOKafkaProducer) -> None:
    """Stop a client now, failing any batch it still holds (what this loop hands over stays
    journaled until acknowledged), instead of waiting for its batches to expire."""
    # aiokafka has no public abort. Its sender stops first: failing batches under a running sender
    # ends it with that error, and its failure callback then raises (an "Exception in callback"
    # log line in the agent's process).
    sender_task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if isinstance(sender_task, asyncio.Task) and not sender_task.done():
        sender_task.cancel()
        await asyncio.wait({sender_task}, timeout=_ABANDON_TIMEOUT_S)
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is not None:
        # A batch put back for a retry has left the pending set its done callback removes it from.
        accumulator._pending_batches.update(b for held in accumulator._batches.values() for b in held)
        batches = list(accumulator._pending_batches)
        accumulator.fail_all(KafkaConnectionError("the publisher closed this Kafka client"))
        for batch in batches:  # nobody waits on them any more: not an "exception never retrieved"
            for future in (batch.future, getattr(batch, "_drain_waiter", None)):
                if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
                    future.exception()
    await _quietly_stop(producer)


async def _quietly_stop(producer: AIOKafkaProducer, timeout: float = 10) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout)
    except Exception:
        logger.debug("Kafka producer did not stop cleanly", exc_info=True)
