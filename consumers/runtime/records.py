"""A record as the runtime hands it to a consumer: where it came from, and its decoded event."""

from __future__ import annotations

from typing import NamedTuple

from aiokafka import TopicPartition

from lkbus.replay.source import SourceRecord
from schemas import DecodeError, Event, check_record, decode

RawRecord = SourceRecord
"""What the runtime reads of a record: an aiokafka ConsumerRecord, or a replayed one."""
_new = tuple.__new__


class Incoming(NamedTuple):
    """A decoded record with its Kafka coordinates (for commits, dead letters and archives).

    Immutable: a named tuple, built for every record at a fraction of a frozen dataclass's cost.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event: Event

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class Checked(NamedTuple):
    """A record checked to be a valid event, not decoded: what consumers that declare
    `needs_events = False` (the JSON Lines archive) get instead of `Incoming`."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class Undecodable(NamedTuple):
    """A record that is not a valid event, as it came.

    Only consumers that declare `wants_raw = True` (the archive: the record of what happened,
    good or bad) get these, in offset order among the decoded ones; all others never see them
    (the runtime dead-letters them).
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    error: DecodeError

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


def incoming(record: RawRecord) -> Incoming:
    """Decode a raw record; `schemas.DecodeError` when it is not a valid event."""
    headers = tuple(record.headers or ())
    value = record.value or b""
    event = decode(value, headers)
    # tuple.__new__ skips the named tuple's Python-level __new__ (this runs for every record).
    return _new(
        Incoming,
        (record.topic, record.partition, record.offset, record.timestamp, record.key, value, headers, event),
    )


def checked(record: RawRecord) -> Checked:
    """Check a raw record; `schemas.DecodeError` when it is not a valid event."""
    headers = tuple(record.headers or ())
    value = record.value or b""
    check_record(value, headers)
    return _new(
        Checked, (record.topic, record.partition, record.offset, record.timestamp, record.key, value, headers)
    )


def undecodable(record: RawRecord, error: DecodeError) -> Undecodable:
    """A raw record that failed to decode, kept as it came."""
    return Undecodable(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key,
        value=record.value or b"",
        headers=tuple(record.headers or ()),
        error=error,
    )
