"""Packing records into per-partition batches (the Kafka side is in tests/integration)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from producers.batches import send_batches
from producers.journal import JournalRecord


class RecordingProducer:
    """The three calls `send_batches` makes, recorded; `fail_at` makes the nth `send_batch` raise."""

    def __init__(self, partitions: int = 3, batch_bytes: int = 16_384, fail_at: int | None = None) -> None:
        self.partitions = partitions
        self.batch_bytes = batch_bytes
        self.fail_at = fail_at
        self.sent: list[tuple[str, int, int]] = []
        """(topic, partition, records) per batch submitted."""

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_bytes, 0)  # 0: no compression

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        if self.fail_at is not None and len(self.sent) == self.fail_at:
            raise KafkaTimeoutError()
        self.sent.append((topic, partition, batch._relative_offset))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def record(session: str, n: int, size: int = 100) -> JournalRecord:
    return JournalRecord("t", session.encode(), b"x" * size, [("ce_type", b"x")], 1_700_000_000_000 + n)


async def test_each_session_goes_to_the_default_partitioners_partition_in_order() -> None:
    records = [record(f"s{i % 5}", i) for i in range(50)]
    producer = RecordingProducer()
    outcome = await send_batches(producer, records)
    assert outcome.error is None
    assert outcome.not_handed_over(len(records)) == []
    partitioner = DefaultPartitioner()
    for batch in outcome.batches:
        assert batch.indexes == sorted(batch.indexes)
        partitions = {partitioner(records[i].key, [0, 1, 2], [0, 1, 2]) for i in batch.indexes}
        assert len(partitions) == 1
    assert sorted(i for b in outcome.batches for i in b.indexes) == list(range(50))


async def test_a_full_batch_is_submitted_and_a_new_one_started() -> None:
    records = [record("one-session", i, size=1000) for i in range(20)]
    producer = RecordingProducer(batch_bytes=4096)
    outcome = await send_batches(producer, records)
    assert len(outcome.batches) > 1
    assert [i for b in outcome.batches for i in b.indexes] == list(range(20))
    assert sum(n for _, _, n in producer.sent) == 20


async def test_a_refused_hand_over_names_every_record_not_handed_over() -> None:
    records = [record("one-session", i, size=1000) for i in range(20)]
    producer = RecordingProducer(batch_bytes=4096, fail_at=1)
    outcome = await send_batches(producer, records)
    assert isinstance(outcome.error, KafkaTimeoutError)
    assert len(outcome.batches) == 1
    handed = outcome.batches[0].indexes
    assert outcome.not_handed_over(len(records)) == list(range(len(handed), 20))
