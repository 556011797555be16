"""Run an `EventConsumer` as a service on FastStream: decode, handle, dead-letter, commit, stop cleanly.

Guarantees: offsets are committed only after `handle` returned (FastStream's MANUAL ack policy;
its default, ACK_FIRST with auto-commit, would be at most once); a record that cannot be decoded,
or that keeps failing, goes to the dead-letter topic with error headers and the rest go on;
retriable failures are retried with backoff first; on SIGTERM the batch in flight finishes, its
offsets are committed, the group is left and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from consumers.runtime import metrics
from consumers.runtime.consumer import ConsumerContext, EventConsumer
from consumers.runtime.deadletter import dead_letter_headers
from consumers.runtime.errors import ConsumerError
from consumers.runtime.health import HealthServer
from consumers.runtime.records import (
    Checked,
    Incoming,
    RawRecord,
    Undecodable,
    checked,
    incoming,
    undecodable,
)
from lkbus.client_logs import quiet_client_lines
from lkbus.gc_tuning import tune_for_batches
from lkbus.kafka import client_options, explain_connection_failure, faststream_security
from lkbus.settings import Settings
from schemas import REGISTRY, DecodeError
from schemas.fast_decode import prepare_fast_decoders

logger = logging.getLogger("lkbus.consumers")
_QUIET_S = 5.0
_METADATA_WAIT_S = 10.0
_LIVE_LAG_S = 1.0
"""A partition whose last record read is this recent is read live, even with records still to read."""


class ConsumerService:
    """One consumer in its consumer group, on a FastStream KafkaBroker."""

    def __init__(self, consumer: EventConsumer, settings: Settings, *, commit: bool = True) -> None:
        self.consumer = consumer
        self.settings = settings
        self.commit = commit
        self.name = consumer.name
        self.group_id = settings.consumer.group_prefix + consumer.name
        self.deadletter_topic = settings.topics.name(settings.topics.deadletter)
        self.processed = 0
        self.dead_lettered = 0
        self._producer: AIOKafkaProducer | None = None
        self._broker: KafkaBroker | None = None
        self._health = (
            HealthServer(settings.consumer.health_port) if settings.consumer.health_port is not None else None
        )
        self.assigned: set[TopicPartition] = set()
        self._committed: dict[TopicPartition, int] = {}
        """The offsets this instance last committed, per partition it holds."""
        self._latest_ms: dict[TopicPartition, int] = {}
        """The newest record timestamp read from each partition."""
        self._behind = True
        self._last_batch_at = 0.0
        self.ready = asyncio.Event()
        self.wants_raw = getattr(consumer, "wants_raw", False) is True
        """The consumer takes undecodable records as `Undecodable` instead of their dead letters."""

    async def start(self) -> None:
        """Connect, start the consumer, and begin consuming."""
        kafka = self.settings.kafka
        self._producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
        try:
            await self._producer.start()
        except (KafkaError, OSError) as exc:
            await self._producer.stop()
            self._producer = None
            raise await explain_connection_failure(exc, kafka) from None
        # Each event type's decoder is built at its first record otherwise: a first prompt would wait.
        await asyncio.to_thread(prepare_fast_decoders, REGISTRY)
        await self._learn_output_topics()
        await self.consumer.start(ConsumerContext(self.name, self.settings, self._publish, self.caught_up))
        c = self.settings.consumer
        broker = KafkaBroker(
            kafka.bootstrap_servers,
            client_id=f"{kafka.client_id}-{self.name}",
            security=faststream_security(kafka),
            graceful_timeout=c.graceful_timeout_s,
            logger=None,
        )
        subscriber = broker.subscriber(
            *self.consumer.subscriptions(self.settings),
            group_id=self.group_id,
            batch=True,
            max_records=c.max_batch,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=c.fetch_max_wait_ms,
            batch_timeout_ms=c.fetch_max_wait_ms,
            session_timeout_ms=c.session_timeout_ms,
            heartbeat_interval_ms=max(100, c.session_timeout_ms // 3),
            # Partition p of every event topic to the same instance: a session's records (keyed
            # by session id, topics of one partition count) all reach one instance. Round robin
            # stays second so members of an older release can share the group while it upgrades.
            partition_assignment_strategy=(RangePartitionAssignor, RoundRobinPartitionAssignor),
            listener=_Rebalance(self),
            parser=_tolerant_parser,
            decoder=_raw_body,
        )
        subscriber(self._on_batch)
        self._broker = broker
        if self._health is not None:
            await self._health.start()
        try:
            await broker.start()
        except (KafkaError, OSError) as exc:
            raise await explain_connection_failure(exc, kafka) from None

    async def _learn_output_topics(self) -> None:
        """Fetch the metadata of the topics this consumer sends to in one request now: at its
        first send to a topic, aiokafka would wait for it (tens of milliseconds on a first prompt)."""
        assert self._producer is not None
        topics = sorted({self.deadletter_topic, *self.consumer.output_topics(self.settings)})
        try:
            await asyncio.wait_for(self._producer.client.set_topics(topics), _METADATA_WAIT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            logger.warning(
                "consumer %s: no metadata yet for the topics it sends to (%s); its first send waits for it",
                self.name,
                exc.__class__.__name__,
            )
            return
        cluster = self._producer.client.cluster
        for topic in topics:
            if cluster.partitions_for_topic(topic) is None:
                logger.warning(
                    "consumer %s: topic %s does not exist; what it sends there will fail until it is "
                    "created (`lkbus topics create` creates the project's topics)",
                    self.name,
                    topic,
                )

    async def stop(self) -> None:
        """Finish the batch in flight, commit, leave the group, close the consumer's stores."""
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
        await self.consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._health is not None:
            await self._health.stop()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until SIGTERM / SIGINT (or `stop` is set), then stop gracefully."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        # This process is the consumer's: see lkbus/gc_tuning.py and lkbus/client_logs.py.
        unquiet = quiet_client_lines(None, self.settings.consumer.client_log_interval_s)
        try:
            await self.start()
            tune_for_batches()
            try:
                await stop.wait()
            finally:
                logger.info("consumer %s stopping", self.name)
                await self.stop()
        finally:
            unquiet()

    def caught_up(self) -> bool:
        """At the last batch every assigned partition was read to its end or read live (its last
        record less than `_LIVE_LAG_S` old), or nothing came for `_QUIET_S` since the last batch
        or assignment (partitions with no records at all)."""
        if not self.ready.is_set():
            return False
        return not self._behind or time.monotonic() - self._last_batch_at > _QUIET_S

    # --- one batch ------------------------------------------------------------------------------

    async def _on_batch(self, body: Any, msg: KafkaMessage) -> None:
        raw: Sequence[RawRecord] = msg.raw_message
        started = time.perf_counter()
        good: list[Incoming | Checked | Undecodable] = []
        read = incoming if self.consumer.needs_events else checked
        for record in raw:
            try:
                good.append(read(record))
            except DecodeError as exc:
                if self.wants_raw:
                    good.append(undecodable(record, exc))
                else:
                    await self._dead_letter(record, exc, reason=exc.reason.value)
        await self._handle(good, raw)
        self.processed += len(raw)
        metrics.RECORDS_PROCESSED.labels(self.name).inc(len(raw))
        metrics.PROCESSING_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        await self._commit(msg, raw)
        self._last_batch_at = time.monotonic()

    async def _handle(self, good: list[Incoming | Checked | Undecodable], raw: Sequence[RawRecord]) -> None:
        if not good:
            return
        if await self._attempt(good):
            return
        # Something in the batch keeps failing: find it by handling the records one by one.
        by_position = {(r.topic, r.partition, r.offset): r for r in raw}
        for record in good:
            if not await self._attempt([record]):
                await self._dead_letter(
                    by_position[(record.topic, record.partition, record.offset)], self._last_error
                )

    async def _attempt(self, batch: list[Incoming | Checked | Undecodable]) -> bool:
        c = self.settings.consumer
        delay = c.retry_backoff_s
        for attempt in range(c.retry_attempts + 1):
            try:
                # Undecodable records are in the batch only when the consumer declared `wants_raw`,
                # Checked ones only when it declared `needs_events = False`; its `handle` takes them.
                await self.consumer.handle(cast(list[Incoming], batch))
                return True
            except Exception as exc:  # noqa: BLE001 - every failure is retried or dead-lettered
                self._last_error = exc
                metrics.FAILURES.labels(self.name).inc()
                retriable = isinstance(exc, ConsumerError) and exc.retriable
                logger.warning(
                    "consumer %s: %s failed (%s, attempt %d)",
                    self.name,
                    "batch" if len(batch) > 1 else "record",
                    exc.__class__.__name__,
                    attempt + 1,
                )
                if not retriable or attempt == c.retry_attempts:
                    return False
                await asyncio.sleep(delay)
                delay *= 2
        return False

    async def _commit(self, msg: KafkaMessage, raw: Sequence[RawRecord]) -> None:
        last: dict[tuple[str, int], RawRecord] = {}
        for record in raw:  # each partition's records come in offset order
            last[record.topic, record.partition] = record
        processed: dict[TopicPartition, int] = {}
        latest = self._latest_ms
        for (topic, partition), record in last.items():
            tp = TopicPartition(topic, partition)
            processed[tp] = record.offset + 1
            latest[tp] = max(latest.get(tp, 0), record.timestamp)
        consumer: Any = msg.consumer
        behind = False
        live_since_ms = (time.time() - _LIVE_LAG_S) * 1000
        for tp in self.assigned:
            highwater = consumer.highwater(tp)
            if highwater is None:
                behind = True
                continue
            position = processed.get(tp)
            if position is None:
                position = await consumer.position(tp)
            lag = max(0, highwater - position)
            # Records still to read count as a backlog only when what was just read is old:
            # under live traffic the next records are always already on their way.
            behind = behind or (lag > 0 and latest.get(tp, 0) < live_since_ms)
            metrics.LAG.labels(self.name, tp.topic, str(tp.partition)).set(lag)
        self._behind = behind
        if not self.commit:
            return
        committed = self._committed
        offsets = {
            tp: o
            for tp, o in self.consumer.commit_offsets(processed).items()
            if tp in self.assigned and committed.get(tp) != o
        }
        if offsets:
            # A consumer holding its commits back (an open file, an open session) asks for the
            # same offsets batch after batch: only the ones that moved cost a round trip.
            await consumer.commit(offsets)
            committed.update(offsets)

    async def _dead_letter(self, record: RawRecord, error: BaseException, reason: str | None = None) -> None:
        headers = dead_letter_headers(
            list(record.headers or ()),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            consumer=self.name,
            error=error,
            reason=reason,
        )
        await self._publish(self.deadletter_topic, record.key, record.value or b"", headers)
        self.dead_lettered += 1
        metrics.DEAD_LETTERED.labels(self.name).inc()
        logger.warning(
            "consumer %s: dead-lettered %s/%d/%d (%s)",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            reason or error.__class__.__name__,
        )

    async def _publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        assert self._producer is not None, "the service is not started"
        await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))

    _last_error: BaseException = ConsumerError("unknown failure")


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: ConsumerService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.service.assigned -= set(revoked)
        for tp in revoked:
            self.service._committed.pop(tp, None)
            self.service._latest_ms.pop(tp, None)
        await self.service.consumer.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.service.assigned |= set(assigned)
        for tp in assigned:
            self.service._committed.pop(tp, None)
        self.service._behind = True  # until a batch shows the new partitions read to their end
        self.service._last_batch_at = time.monotonic()
        await self.service.consumer.on_assigned(set(assigned))
        self.service.ready.set()
        if self.service._health is not None:
            self.service._health.ready = True


@dataclass(frozen=True, slots=True)
class _HeaderlessView:
    """What FastStream's batch parser reads of a record, without the headers it would decode."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[()] = ()


async def _tolerant_parser(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream decodes every header as UTF-8 and fails the whole batch on one that is not, and
    copies every value: show it the first and last records only, without headers (it names the
    message after them; the runtime reads the raw records and dead-letters bad headers itself)."""
    ends = (records[0], records[-1]) if len(records) > 1 else tuple(records)
    message = await original(
        tuple(_HeaderlessView(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value) for r in ends)
    )
    message.raw_message = records
    return message


async def _raw_body(msg: Any) -> Any:
    """Skip FastStream's body decoding: records are decoded (and dead-lettered) by the runtime."""
    return msg.body
