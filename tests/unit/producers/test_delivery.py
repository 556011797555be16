"""The delivery loop against a held-back fake producer: what a crash at any moment would lose.

After every write or delete in the journal folder, the records a new process would find there
plus the records Kafka acknowledged must be the first N records submitted: a crash may lose the
newest records still in memory, never one older than a record it keeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from producers import journal as journal_module
from producers.delivery import Delivery
from producers.journal import Journal, JournalRecord, read_segment


class RecordingBatch:
    """Stands in for aiokafka's batch builder: remembers the values appended to it."""

    def __init__(self) -> None:
        self.values: list[int] = []

    def append(self, *, timestamp: int | None, key: bytes, value: bytes, headers: object) -> bool:
        self.values.append(int(value))
        return True


class HeldProducer:
    """A one-partition producer whose batches wait until the test acknowledges or fails them."""

    def __init__(self) -> None:
        self.held: list[tuple[RecordingBatch, asyncio.Future[Any]]] = []
        self.acknowledged: list[int] = []
        self.stopped = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> RecordingBatch:
        return RecordingBatch()

    async def send_batch(self, batch: RecordingBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.held.append((batch, future))
        return future

    def acknowledge_all(self) -> None:
        for batch, future in self.held:
            self.acknowledged += batch.values
            future.set_result(None)
        self.held = []

    def fail_all(self) -> None:
        for _, future in self.held:
            future.set_exception(KafkaConnectionError())
        self.held = []


def on_disk(folder: Path) -> list[int]:
    """The records a new process would send from the journal folder, in order."""
    values: list[int] = []
    for segment in sorted(folder.glob("seg-*.journal")):
        records, _ = read_segment(segment)
        position = segment.with_suffix(".pos")
        start = int(position.read_text()) if position.exists() else 0
        values += [int(r.value) for r in records[start:]]
    return values


class CrashChecker:
    """Checks, after every journal write or delete, that a crash then would lose only a tail."""

    def __init__(self, folder: Path, producer: HeldProducer) -> None:
        self.folder = folder
        self.producer = producer
        self.checks = 0
        self.violations: list[str] = []

    def check(self) -> None:
        self.checks += 1
        kept = set(self.producer.acknowledged) | set(on_disk(self.folder))
        if kept != set(range(len(kept))):
            missing = sorted(set(range(max(kept) + 1)) - kept)
            self.violations.append(f"a crash now would lose {missing} but keep {max(kept)}")


def record(n: int) -> JournalRecord:
    return JournalRecord("t", b"one-session", str(n).encode(), [("ce_type", b"x")], 1_700_000_000_000 + n)


@pytest.fixture
async def delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Delivery, HeldProducer, CrashChecker]]:
    producer = HeldProducer()
    checker = CrashChecker(tmp_path, producer)
    original_write = journal_module._write_new

    def write_then_check(path: Path, data: bytes) -> None:
        original_write(path, data)
        checker.check()

    monkeypatch.setattr(journal_module, "_write_new", write_then_check)
    monkeypatch.setattr(Journal, "append", _then(Journal.append, checker.check))
    monkeypatch.setattr(Journal, "_delete_segment", _then(Journal._delete_segment, checker.check))
    journal = Journal(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    subject = Delivery(
        lambda: producer,
        journal,
        buffer_max_events=1000,
        send_timeout_s=0.2,
        retry_backoff_max_s=0.2,
    )
    running = asyncio.create_task(subject.run())
    await until(lambda: subject.stats().kafka_available)
    yield subject, producer, checker
    subject.stop()
    producer.acknowledge_all()
    await asyncio.wait_for(running, 10)


def _then(method: Callable[..., Any], check: Callable[[], None]) -> Callable[..., Any]:
    def wrapped(self: Journal, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        check()
        return result

    return wrapped


async def until(condition: Callable[[], object], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the delivery loop did not get there"
        await asyncio.sleep(0.01)


async def acknowledge_until_drained(delivery: Delivery, producer: HeldProducer, timeout: float = 10) -> None:
    """Acknowledge every batch sent until nothing is held and the journal is empty."""
    deadline = asyncio.get_running_loop().time() + timeout
    while producer.held or delivery.stats().journal_bytes:
        assert asyncio.get_running_loop().time() < deadline, "the journal was not drained"
        producer.acknowledge_all()
        await asyncio.sleep(0.05)


def submit(delivery: Delivery, numbers: range) -> None:
    for n in numbers:
        delivery.submit(record(n))


async def test_kafka_stops_answering_a_batch_in_flight_the_batch_and_memory_are_journaled_as_one(
    delivery: tuple[Delivery, HeldProducer, CrashChecker], tmp_path: Path
) -> None:
    subject, producer, checker = delivery
    submit(subject, range(10))
    await until(lambda: producer.held)
    submit(subject, range(10, 30))  # memory, behind the batch Kafka holds
    await until(lambda: not subject.stats().kafka_available)  # no answer within send_timeout_s
    assert on_disk(tmp_path) == list(range(30)), "the held batch, then memory, journaled"
    submit(subject, range(30, 40))  # Kafka away: straight to the journal
    await until(lambda: subject.stats().spilled >= 30)
    producer.fail_all()
    await until(lambda: producer.held)  # the probe resends from the journal
    await acknowledge_until_drained(subject, producer)
    assert producer.acknowledged == list(range(40)), "in order, once each"
    assert checker.checks > 3
    assert checker.violations == []


async def test_a_held_batch_acknowledged_after_the_spill_is_not_sent_again(
    delivery: tuple[Delivery, HeldProducer, CrashChecker], tmp_path: Path
) -> None:
    subject, producer, checker = delivery
    submit(subject, range(10))
    await until(lambda: producer.held)
    submit(subject, range(10, 20))
    await until(lambda: not subject.stats().kafka_available)
    producer.acknowledge_all()  # Kafka answers late: the journal's copy of the batch is dropped
    await until(lambda: producer.held)
    await acknowledge_until_drained(subject, producer)
    assert producer.acknowledged == list(range(20)), "in order, once each"
    assert checker.violations == []


async def test_a_failed_resend_keeps_its_records_in_front(
    delivery: tuple[Delivery, HeldProducer, CrashChecker], tmp_path: Path
) -> None:
    subject, producer, checker = delivery
    submit(subject, range(5))
    await until(lambda: producer.held)
    await until(lambda: not subject.stats().kafka_available)
    producer.fail_all()
    submit(subject, range(5, 15))
    for _ in range(3):  # three probes from the journal fail in a row
        await until(lambda: producer.held)
        producer.fail_all()
    await acknowledge_until_drained(subject, producer)
    assert producer.acknowledged == list(range(15)), "in order, once each"
    assert checker.violations == []


async def test_after_a_failed_send_each_probe_starts_a_fresh_client(tmp_path: Path) -> None:
    """A client kept through an outage would retry each probe's batch (and its metadata, without
    pause) until the batch expires; a fresh one fails at once while Kafka is away."""
    clients: list[HeldProducer] = []

    def fresh_client() -> HeldProducer:
        clients.append(HeldProducer())
        return clients[-1]

    subject = Delivery(
        fresh_client,
        Journal(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20),
        buffer_max_events=1000,
        send_timeout_s=5,
        retry_backoff_max_s=0.2,
    )
    running = asyncio.create_task(subject.run())
    submit(subject, range(5))
    await until(lambda: clients and clients[-1].held)
    clients[-1].fail_all()  # Kafka refused the batch
    for attempt in range(2, 4):

        def probing(count: int = attempt) -> bool:
            return len(clients) == count and bool(clients[-1].held)

        await until(probing)
        assert all(client.stopped for client in clients[:-1]), "the failed client was closed"
        clients[-1].fail_all()
    await until(lambda: len(clients) == 4 and clients[-1].held)
    clients[-1].acknowledge_all()
    await until(lambda: not subject.stats().journal_bytes)
    subject.stop()
    await asyncio.wait_for(running, 10)
    assert [n for client in clients for n in client.acknowledged] == list(range(5))


class TrackingClient:
    """Records the topics a client was told to track (one metadata refresh for all of them)."""

    def __init__(self) -> None:
        self.tracked: list[list[str]] = []

    def set_topics(self, topics: list[str]) -> asyncio.Future[bool]:
        self.tracked.append(list(topics))
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        done.set_result(True)
        return done


async def test_a_started_client_fetches_the_metadata_of_every_topic_at_once(tmp_path: Path) -> None:
    """Refreshes are paced: fetched one topic at a time at its first send, the second and third
    topics' first events would each wait for the pace."""
    producer = HeldProducer()
    producer.client = TrackingClient()  # type: ignore[attr-defined]
    subject = Delivery(
        lambda: producer,
        Journal(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20),
        buffer_max_events=1000,
        send_timeout_s=0.2,
        topics=("events", "state", "room"),
    )
    running = asyncio.create_task(subject.run())
    await until(lambda: subject.stats().kafka_available)
    subject.stop()
    await asyncio.wait_for(running, 10)
    assert producer.client.tracked == [["events", "state", "room"]]  # type: ignore[attr-defined]
