"""Where replayed records come from: the `RecordSource` protocol and the read plan.

A source turns a `ReadRequest` (topics, start, stop, follow) into batches of records merged
by timestamp. `KafkaRecordSource` (kafka_source.py) reads the topics; the archive reader of
issue 6 implements the same protocol over archived files and plugs into `replay()` unchanged;
`MemoryRecordSource` serves unit tests.

The offset arithmetic (`select_partitions`, `resolve_offset`) is pure and unit-tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, Self

from lkbus.replay.exceptions import ReplayOptionError
from lkbus.replay.merge import Keep, TimestampMerger
from lkbus.replay.position import (
    AtTime,
    Beginning,
    End,
    FromEnd,
    Offset,
    PartitionOffsets,
    Position,
)


class SourceRecord(Protocol):
    """What replay needs of a record; aiokafka's `ConsumerRecord` has exactly these fields."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int:
        """Record timestamp, epoch milliseconds."""
        ...

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Record:
    """A plain `SourceRecord`, for sources that do not read Kafka (archives, tests)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """What to read: topics, from where, to where; `stop=None` follows new records forever."""

    topics: tuple[str, ...]
    start: Position = field(default_factory=Beginning)
    stop: Position | None = field(default_factory=End)
    keep: Keep | None = None
    """Records this rules out (from key and headers) may be passed over, counted in `skipped`."""


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Offsets [start, stop) of one partition; `stop=None` when following."""

    topic: str
    partition: int
    start: int
    stop: int | None


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The partitions a source reads and how many records that is (None when following)."""

    ranges: tuple[PartitionRange, ...]

    @property
    def total(self) -> int | None:
        if any(r.stop is None for r in self.ranges):
            return None
        return sum(max(0, (r.stop or 0) - r.start) for r in self.ranges)


class RecordSource(Protocol):
    """A place to replay records from. Use as `async with source: plan = await source.open(req)`.

    `open` checks the request (unknown topics and partitions raise a `LkbusError` with one line)
    and returns the plan; `batches` yields records merged by timestamp, each partition in offset
    order, until every partition reaches its stop (never when following) or `stop` is set.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def open(self, request: ReadRequest) -> ReadPlan: ...

    def batches(self, stop: asyncio.Event) -> AsyncGenerator[Sequence[SourceRecord], None]: ...

    @property
    def skipped(self) -> int:
        """Records read so far that the request's `keep` ruled out (never yielded)."""
        ...


TP = tuple[str, int]


def select_partitions(request: ReadRequest, partition_counts: Mapping[str, int]) -> list[TP]:
    """The partitions to read: all of each topic, or those `partition:offset` positions name."""
    named: set[int] | None = None
    for position, option in ((request.start, "--from"), (request.stop, "--to")):
        if isinstance(position, PartitionOffsets):
            these = set(position.as_dict())
            for topic, count in partition_counts.items():
                missing = sorted(p for p in these if p >= count)
                if missing:
                    raise ReplayOptionError(
                        f"{option} {position}: topic {topic} has no partition {missing[0]} "
                        f"(it has {count}: 0..{count - 1})"
                    )
            named = these if named is None else named & these
            if not named:
                raise ReplayOptionError(
                    "--from and --to name different partitions; name the same ones, or use plain offsets"
                )
    return [
        (topic, p)
        for topic in request.topics
        for p in range(partition_counts[topic])
        if named is None or p in named
    ]


def resolve_offset(
    position: Position,
    *,
    partition: int,
    first: int,
    end: int,
    at_time: int | None,
    role: Literal["start", "stop"],
) -> int:
    """The offset a position means in one partition whose records are [first, end).

    `at_time` is what the source looked up for an `AtTime` position: the first offset whose
    timestamp is at or after the time (for a stop: after it), None when there is none.
    """
    match position:
        case Beginning():
            offset = first
        case End():
            offset = end
        case Offset(offset=n):
            offset = n
        case FromEnd(count=n):
            offset = end - n
        case PartitionOffsets():
            default = first if role == "start" else end
            offset = position.as_dict().get(partition, default)
        case AtTime():
            offset = end if at_time is None else at_time
    return min(max(offset, first), end)


@dataclass
class MemoryRecordSource:
    """Records held in memory, one list per (topic, partition) in offset order (unit tests).

    Implements `RecordSource` with the same merge as the Kafka source; `AtTime` positions
    are looked up by scanning timestamps.
    """

    partitions: dict[TP, list[Record]]
    batch_size: int = 64
    _ranges: list[PartitionRange] = field(default_factory=list)
    _keep: Keep | None = None
    _merger: TimestampMerger | None = None

    @property
    def skipped(self) -> int:
        return 0 if self._merger is None else self._merger.skipped

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def open(self, request: ReadRequest) -> ReadPlan:
        counts: dict[str, int] = {}
        for topic, partition in self.partitions:
            counts[topic] = max(counts.get(topic, 0), partition + 1)
        unknown = [t for t in request.topics if t not in counts]
        if unknown:
            raise ReplayOptionError(f"no such topic: {', '.join(unknown)}")
        self._keep = request.keep
        self._ranges = []
        for tp in select_partitions(request, counts):
            records = self.partitions.get(tp, [])
            first = records[0].offset if records else 0
            end = records[-1].offset + 1 if records else 0
            start = self._resolve(request.start, tp, records, first, end, "start")
            stop = (
                None if request.stop is None else self._resolve(request.stop, tp, records, first, end, "stop")
            )
            self._ranges.append(
                PartitionRange(tp[0], tp[1], start, None if stop is None else max(stop, start))
            )
        return ReadPlan(tuple(self._ranges))

    def _resolve(
        self,
        position: Position,
        tp: TP,
        records: list[Record],
        first: int,
        end: int,
        role: Literal["start", "stop"],
    ) -> int:
        at_time = None
        if isinstance(position, AtTime):
            threshold = position.epoch_ms + (1 if role == "stop" else 0)
            at_time = next((r.offset for r in records if r.timestamp >= threshold), None)
        return resolve_offset(position, partition=tp[1], first=first, end=end, at_time=at_time, role=role)

    async def batches(self, stop: asyncio.Event) -> AsyncGenerator[Sequence[SourceRecord], None]:
        bounded = all(r.stop is not None for r in self._ranges)
        ends = {tp: (rs[-1].offset + 1 if rs else 0) for tp, rs in self.partitions.items()}
        merger = self._merger = TimestampMerger(
            {
                (r.topic, r.partition): (r.start, r.stop if bounded else ends[r.topic, r.partition])
                for r in self._ranges
            },
            bounded=bounded,
            keep=self._keep,
        )
        cursors = {(r.topic, r.partition): r.start for r in self._ranges}
        while not merger.finished and not stop.is_set():
            if not bounded and all(cursors[tp] >= ends[tp] for tp in cursors):
                ready = merger.pop_ready()
                if ready:
                    yield ready
                await stop.wait()
                return
            for tp, cursor in cursors.items():
                chunk = [
                    r for r in self.partitions.get(tp, []) if cursor <= r.offset < cursor + self.batch_size
                ]
                cursors[tp] = cursor + self.batch_size
                merger.add(tp, chunk)
                merger.advance(tp, cursors[tp])
            ready = merger.pop_ready()
            if ready:
                yield ready
            await asyncio.sleep(0)
