"""Hand records to aiokafka as whole batches, one per partition at a time.

`AIOKafkaProducer.send` makes a future (and a callback chain) per record; records waiting for
their acknowledgement then live through collections of the cyclic GC, whose pauses hold the
GIL the agent's thread needs. A batch built with `create_batch` has one future for all its
records. Partitions are chosen as aiokafka's default partitioner does (murmur2 of the key over
all partitions), so a session's events land where a plain `send` would put them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

from producers.journal import JournalRecord


@functools.lru_cache(maxsize=65_536)
def key_hash(key: bytes) -> int:
    """The default partitioner's hash of a key (pure Python in aiokafka: cached per session key)."""
    return int(murmur2(key)) & 0x7FFFFFFF


@dataclass(slots=True)
class SentBatch:
    """One batch handed to the producer: its delivery future and the records' positions."""

    future: asyncio.Future[Any]
    indexes: list[int]


@dataclass(slots=True)
class BatchSend:
    """The outcome of handing records over: the batches submitted, and the error that stopped
    the hand-over (the records of no submitted batch were then not handed over)."""

    batches: list[SentBatch] = field(default_factory=list)
    error: BaseException | None = None

    def not_handed_over(self, count: int) -> list[int]:
        """Positions (of `count` records) that are in no submitted batch."""
        sent = {i for batch in self.batches for i in batch.indexes}
        return [i for i in range(count) if i not in sent]


async def send_batches(producer: AIOKafkaProducer, records: Sequence[JournalRecord]) -> BatchSend:
    """Pack `records` into per-partition batches, in their order within each partition, and
    submit them. Never raises: an error ends the hand-over and is returned in the outcome."""
    outcome = BatchSend()
    partitions: dict[str, list[int]] = {}
    open_batches: dict[tuple[str, int], tuple[BatchBuilder, list[int]]] = {}
    try:
        for index, record in enumerate(records):
            topic = record.topic
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = sorted(await producer.partitions_for(topic))
            tp = (topic, known[key_hash(record.key) % len(known)])
            entry = open_batches.get(tp)
            if entry is None:
                entry = open_batches[tp] = (producer.create_batch(), [])
            if _append(entry[0], record) is None:
                await _submit(producer, tp, entry, outcome)
                entry = open_batches[tp] = (producer.create_batch(), [])
                if _append(entry[0], record) is None:  # pragma: no cover - an empty batch takes any record
                    raise ValueError("a record does not fit an empty batch")
            entry[1].append(index)
        for tp, entry in open_batches.items():
            await _submit(producer, tp, entry, outcome)
    except Exception as exc:  # noqa: BLE001 - the caller journals what was not handed over
        outcome.error = exc
    return outcome


def _append(builder: BatchBuilder, record: JournalRecord) -> object:
    return builder.append(
        timestamp=record.timestamp_ms, key=record.key, value=record.value, headers=record.headers
    )


async def _submit(
    producer: AIOKafkaProducer,
    tp: tuple[str, int],
    entry: tuple[BatchBuilder, list[int]],
    outcome: BatchSend,
) -> None:
    builder, indexes = entry
    if not indexes:
        return
    future = await producer.send_batch(builder, tp[0], partition=tp[1])
    outcome.batches.append(SentBatch(future, indexes))
