"""Where replayed events go: a timeline, JSON Lines, or another topic at a chosen speed."""

from __future__ import annotations

import asyncio
import io
import time
from collections import deque
from collections.abc import Sequence
from operator import attrgetter
from typing import Any, BinaryIO, Protocol, TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from lkbus.errors import KafkaUnavailableError
from lkbus.kafka import client_options
from lkbus.replay.exceptions import RepublishError
from lkbus.replay.source import SourceRecord
from lkbus.replay.timeline import TimelineRenderer, undecodable_line
from lkbus.settings import KafkaSettings
from schemas import SCHEMA_VERSION_HEADER, Event, decode

_value = attrgetter("value")

Item = tuple[SourceRecord, Event | None]
"""A record and its event; None only for sinks that declare `takes_checked` (see there)."""


class Sink(Protocol):
    """Receives the events that passed the filters, in replay order."""

    takes_checked: bool
    """True: a record whose value is a current-version event (`schemas.is_current_event`)
    may come without its decoded event (None), when no filter needs it."""

    async def write(self, items: Sequence[Item]) -> int:
        """Write or send the items; returns how many (fewer when told to stop)."""
        ...

    async def write_checked(self, records: Sequence[SourceRecord]) -> int:
        """`write` for records that are all current-version events (`schemas.current_events`),
        passed on as they are; returns how many."""
        ...

    def undecodable(self, record: SourceRecord, reason: str) -> None: ...

    async def close(self) -> None: ...


class TimelineSink:
    """The human timeline on `out`; undecodable records appear in place, in the same stream."""

    takes_checked = False

    def __init__(self, out: TextIO, *, show_session: bool, redact: bool = False) -> None:
        self._out = out
        self._renderer = TimelineRenderer(show_session=show_session, redact=redact)

    async def write(self, items: Sequence[Item]) -> int:
        lines: list[str] = []
        for _, event in items:
            assert event is not None, "the timeline takes decoded events only"
            lines.extend(self._renderer.render(event))
        if lines:
            self._out.write("\n".join(lines) + "\n")
            self._out.flush()
        return len(items)

    async def write_checked(self, records: Sequence[SourceRecord]) -> int:
        return await self.write([(r, decode(r.value or b"", r.headers)) for r in records])

    def undecodable(self, record: SourceRecord, reason: str) -> None:
        self._out.write(undecodable_line(record.topic, record.partition, record.offset, reason) + "\n")

    async def close(self) -> None:
        self._out.flush()


class JsonLinesSink:
    """One decoded envelope per line on `out`; undecodable records are reported on `err`.

    A record written at the current schema version is validated and then written as the
    producer wrote it (same JSON, no re-serialisation); older versions are written upcast.
    Lines are UTF-8; when `out` is a file (stdout), they go to its bytes as they are.
    """

    takes_checked = True

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        self._bytes: BinaryIO | None = out.buffer if isinstance(out, io.TextIOWrapper) else None
        out.flush()  # what was written before goes first

    async def write(self, items: Sequence[Item]) -> int:
        if items:
            self._write("\n".join([_json_line(record, event) for record, event in items]).encode() + b"\n")
        return len(items)

    async def write_checked(self, records: Sequence[SourceRecord]) -> int:
        if not records:
            return 0
        values: list[bytes] = list(map(_value, records))
        lines = b"\n".join(values)
        if lines.count(b"\n") != len(values) - 1:  # a value on several lines: one line each
            return await self.write([(r, None) for r in records])
        self._write(lines + b"\n")
        return len(values)

    def _write(self, lines: bytes) -> None:
        if self._bytes is not None:
            self._bytes.write(lines)
        else:
            self._out.write(lines.decode())

    def undecodable(self, record: SourceRecord, reason: str) -> None:
        self._err.write(undecodable_line(record.topic, record.partition, record.offset, reason) + "\n")

    async def close(self) -> None:
        if self._bytes is not None:
            self._bytes.flush()
        self._out.flush()


def _json_line(record: SourceRecord, event: Event | None) -> str:
    value = record.value
    if event is None:  # checked: the value is the current version's event
        assert value is not None
        if b"\n" not in value:
            return value.decode()
        event = decode(value, record.headers)
    if value is not None and b"\n" not in value:
        headers = record.headers
        # The producer writes the schema version seventh; look there first, then everywhere.
        hint = headers[6] if len(headers) > 6 else None
        version = (
            hint[1]
            if hint is not None and hint[0] == SCHEMA_VERSION_HEADER
            else next((v for k, v in headers if k == SCHEMA_VERSION_HEADER), None)
        )
        if version is not None and version.decode(errors="replace") == event.schema_version:
            return value.decode()
    return event.model_dump_json()


MAX_IN_FLIGHT = 10_000


class RepublishSink:
    """Sends the records, bytes, keys and headers unchanged, to `topic` at `speed`.

    `speed` is a factor of the original pacing (1 = as recorded, 10 = ten times faster), None
    for as fast as possible. Pacing follows the record timestamps; the new records get the
    time they are sent (an old timestamp could fall outside the target's retention at once).
    Each record goes to the partition its key hashes to, so a session keeps its order.
    """

    takes_checked = True

    def __init__(
        self, kafka: KafkaSettings, topic: str, *, speed: float | None, stop: asyncio.Event, err: TextIO
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._speed = speed
        self._stop = stop
        self._err = err
        self._producer: AIOKafkaProducer | None = None
        self._in_flight: deque[asyncio.Future[Any]] = deque()
        self._origin: tuple[int, float] | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            **client_options(self._kafka),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=131_072,
        )
        try:
            await producer.start()
        except (KafkaConnectionError, OSError) as exc:
            await producer.stop()
            raise KafkaUnavailableError(
                f"cannot reach Kafka at {self._kafka.bootstrap_servers} ({exc.__class__.__name__}); start "
                "it (`lkbus broker start`) or set LKBUS_KAFKA__BOOTSTRAP_SERVERS"
            ) from None
        self._producer = producer

    async def write(self, items: Sequence[Item]) -> int:
        return await self.write_checked([record for record, _ in items])

    async def write_checked(self, records: Sequence[SourceRecord]) -> int:
        producer = self._producer
        if producer is None:
            raise RuntimeError("call start() before write()")
        sent = 0
        for record in records:
            if self._speed is not None and not await self._pace(record.timestamp):
                break
            try:
                future = await producer.send(
                    self._topic, value=record.value, key=record.key, headers=list(record.headers)
                )
            except KafkaError as exc:
                raise RepublishError(
                    f"sending to {self._topic} failed ({exc.__class__.__name__}: {exc}); check the broker"
                ) from exc
            self._in_flight.append(future)
            sent += 1
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                await self._settle(MAX_IN_FLIGHT // 2)
        return sent

    async def _pace(self, timestamp_ms: int) -> bool:
        """Wait until this record is due; False when told to stop meanwhile."""
        assert self._speed is not None
        now = time.monotonic()
        if self._origin is None:
            self._origin = (timestamp_ms, now)
            return not self._stop.is_set()
        first_ms, started = self._origin
        delay = started + (timestamp_ms - first_ms) / 1000 / self._speed - now
        if delay > 0:
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                return True
        return not self._stop.is_set()

    async def _settle(self, keep: int) -> None:
        while len(self._in_flight) > keep:
            future = self._in_flight.popleft()
            try:
                await future
            except KafkaError as exc:
                raise RepublishError(
                    f"sending to {self._topic} failed ({exc.__class__.__name__}: {exc}); check the broker"
                ) from exc

    def undecodable(self, record: SourceRecord, reason: str) -> None:
        self._err.write(
            undecodable_line(record.topic, record.partition, record.offset, reason) + " (skipped)\n"
        )

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await self._settle(0)
        finally:
            await producer.stop()
