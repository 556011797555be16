"""A record as the runtime hands it to a consumer: where it came from, and its decoded event."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from schemas import DecodeError, Event


@dataclass(frozen=True, slots=True)
class Incoming:
    """A decoded record with its Kafka coordinates (for commits, dead letters and archives)."""

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


@dataclass(frozen=True, slots=True)
class Undecodable:
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
