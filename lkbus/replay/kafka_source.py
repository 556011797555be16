"""`RecordSource` over Kafka topics: one consumer, no group, partitions assigned by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import Any, Literal, Self

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from lkbus.errors import KafkaUnavailableError, TopicError
from lkbus.kafka import LOOKUP_RETRY_BACKOFF_MS, client_options
from lkbus.replay.merge import Keep, TimestampMerger
from lkbus.replay.position import AtTime, Position
from lkbus.replay.source import (
    TP,
    PartitionRange,
    ReadPlan,
    ReadRequest,
    SourceRecord,
    resolve_offset,
    select_partitions,
)
from lkbus.settings import KafkaSettings
from lkbus.topics import admin_client

MAX_BUFFERED = 1000
"""Records held per partition before it is paused: with the one fetch response a partition can
add past it (``max_partition_fetch_bytes``), what bounds memory on long reads."""
FETCH_WAIT_MS = 100


class KafkaRecordSource:
    """Reads `[start, stop)` of every partition of the requested topics, merged by timestamp."""

    def __init__(self, kafka: KafkaSettings, *, fetch_wait_ms: int = FETCH_WAIT_MS) -> None:
        self._kafka = kafka
        self._fetch_wait_ms = fetch_wait_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._ranges: list[PartitionRange] = []
        self._ends: dict[TP, int] = {}
        self._keep: Keep | None = None
        self._merger: TimestampMerger | None = None

    @property
    def skipped(self) -> int:
        return 0 if self._merger is None else self._merger.skipped

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def open(self, request: ReadRequest) -> ReadPlan:
        counts = await partition_counts(self._kafka, list(request.topics))
        partitions = select_partitions(request, counts)
        consumer = await self._start_consumer()
        tps = [TopicPartition(t, p) for t, p in partitions]
        try:
            firsts: dict[Any, int] = await consumer.beginning_offsets(tps)
            ends: dict[Any, int] = await consumer.end_offsets(tps)
            starts = await self._resolve(consumer, request.start, tps, firsts, ends, "start")
            stops = (
                None
                if request.stop is None
                else await self._resolve(consumer, request.stop, tps, firsts, ends, "stop")
            )
        except KafkaError as exc:
            raise KafkaUnavailableError(
                f"reading offsets from Kafka at {self._kafka.bootstrap_servers} failed "
                f"({exc.__class__.__name__}); check the broker"
            ) from exc
        self._ranges = [
            PartitionRange(
                tp.topic, tp.partition, starts[tp], None if stops is None else max(stops[tp], starts[tp])
            )
            for tp in tps
        ]
        self._ends = {(tp.topic, tp.partition): ends[tp] for tp in tps}
        self._keep = request.keep
        wanted = [tp for tp, r in zip(tps, self._ranges, strict=True) if r.stop is None or r.stop > r.start]
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, starts[tp])
        return ReadPlan(tuple(self._ranges))

    async def _start_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **client_options(self._kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_wait_ms,
            request_timeout_ms=15000,
            retry_backoff_ms=LOOKUP_RETRY_BACKOFF_MS,
        )
        try:
            await consumer.start()
        except (KafkaConnectionError, OSError) as exc:
            await consumer.stop()
            raise KafkaUnavailableError(
                f"cannot reach Kafka at {self._kafka.bootstrap_servers} ({exc.__class__.__name__}); start "
                "it (`lkbus broker start`) or set LKBUS_KAFKA__BOOTSTRAP_SERVERS"
            ) from None
        self._consumer = consumer
        return consumer

    async def _resolve(
        self,
        consumer: AIOKafkaConsumer,
        position: Position,
        tps: list[Any],
        firsts: dict[Any, int],
        ends: dict[Any, int],
        role: Literal["start", "stop"],
    ) -> dict[Any, int]:
        found: dict[Any, Any] = {}
        if isinstance(position, AtTime) and tps:
            # A stop at time T keeps the records stamped T: stop at the first one after it.
            ms = position.epoch_ms + (1 if role == "stop" else 0)
            found = await consumer.offsets_for_times(dict.fromkeys(tps, ms))
        return {
            tp: resolve_offset(
                position,
                partition=tp.partition,
                first=firsts[tp],
                end=ends[tp],
                at_time=found[tp].offset if found.get(tp) is not None else None,
                role=role,
            )
            for tp in tps
        }

    async def batches(self, stop: asyncio.Event) -> AsyncGenerator[Sequence[SourceRecord], None]:
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("call open() before batches()")
        bounded = all(r.stop is not None for r in self._ranges)
        merger = self._merger = TimestampMerger(
            {
                (r.topic, r.partition): (
                    r.start,
                    r.stop if r.stop is not None else self._ends[r.topic, r.partition],
                )
                for r in self._ranges
            },
            bounded=bounded,
            keep=self._keep,
        )
        paused: set[Any] = set()
        while not stop.is_set() and not merger.finished:
            try:
                # Everything fetched, not a part: aiokafka drops what is left of a partition's
                # fetch response when the partition is paused, and fetches it again on resume.
                fetched: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=self._fetch_wait_ms)
            except KafkaError as exc:
                raise KafkaUnavailableError(
                    f"reading from Kafka at {self._kafka.bootstrap_servers} failed "
                    f"({exc.__class__.__name__}); check the broker"
                ) from exc
            for tp, records in fetched.items():
                key = (tp.topic, tp.partition)
                merger.add(key, records)
                if not bounded:
                    high = consumer.highwater(tp)
                    if high is not None:
                        merger.set_limit(key, high)
            for key in merger.starving:
                tp = TopicPartition(*key)
                if tp not in fetched:
                    merger.advance(key, await consumer.position(tp))
                    if not bounded:
                        high = consumer.highwater(tp)
                        if high is not None:
                            merger.set_limit(key, high)
            ready = merger.pop_ready()
            self._flow_control(consumer, merger, paused)
            if ready:
                yield ready

    def _flow_control(self, consumer: AIOKafkaConsumer, merger: TimestampMerger, paused: set[Any]) -> None:
        """Pause partitions that are done or whose buffer is full; resume them once drained."""
        for tp in consumer.assignment():
            key = (tp.topic, tp.partition)
            hold = merger.done(key) or merger.buffered(key) >= MAX_BUFFERED
            if hold and tp not in paused:
                consumer.pause(tp)
                paused.add(tp)
            elif not hold and tp in paused and merger.buffered(key) < MAX_BUFFERED // 2:
                consumer.resume(tp)
                paused.discard(tp)


async def partition_counts(kafka: KafkaSettings, names: list[str]) -> dict[str, int]:
    """Partitions of each named topic; an unknown topic raises `TopicError` (never auto-creates)."""
    async with admin_client(kafka) as admin:
        existing = set(await admin.list_topics())
        unknown = [n for n in names if n not in existing]
        if unknown:
            raise TopicError(f"no such topic: {', '.join(unknown)}; `lkbus topics list` shows what exists")
        metadata = await admin.describe_topics(names)
    return {t["topic"]: len(t["partitions"]) for t in metadata}
