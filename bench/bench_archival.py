"""Archival throughput (topic → committed files) beside a bare aiokafka loop writing raw values to one file.

Both read the same topic in the same run, timed from the first record received to every record
durable (ours: published files; the floor: one fsynced file), so group join and start-up are
left out of both. Also: archive bytes on disk per event, beside the record bytes per event.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import zstandard
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bench.__main__ import BenchKafka
from bench.report import BenchRow
from consumers.archival import ArchivalConsumer, ArchivalSettings, ArchiveFormat
from consumers.archival.formats import encode_line
from consumers.runtime import ConsumerService
from consumers.runtime.records import Checked, Undecodable, checked, undecodable
from lkbus.gc_tuning import tuned_for_batches
from lkbus.kafka import client_options
from lkbus.settings import ConsumerSettings, KafkaSettings, Settings, TopicSettings
from lkbus.topics import create_topics, project_topics
from schemas import DecodeError, SessionContext, encode_event

RECORDS = 100_000
PARTITIONS = 6
SESSIONS = 1000
RUNS = 3


def run(kafka: BenchKafka) -> list[BenchRow]:
    return asyncio.run(_run(KafkaSettings(bootstrap_servers=kafka.bootstrap, client_id="lkbus-bench")))


async def _run(kafka: KafkaSettings) -> list[BenchRow]:
    topics = TopicSettings(prefix=f"bench.arch.{uuid.uuid4().hex[:8]}.", partitions=PARTITIONS)
    await create_topics(kafka, project_topics(topics))
    topic = topics.name(topics.session_events)
    record_bytes = await _fill(kafka, topic)
    floor: list[float] = []
    work_alone: list[float] = []
    ours: dict[ArchiveFormat, list[float]] = {"jsonl": [], "parquet": []}
    sizes: dict[ArchiveFormat, int] = {}
    with tuned_for_batches():  # as `lkbus consume` runs (lkbus/gc_tuning.py), for every figure alike
        for _ in range(RUNS):
            floor.append(await _bare(kafka, topic))
            work_alone.append(await _bare(kafka, topic, lines=True))
            for fmt in ours:
                rate, size = await _archival(kafka, topics, fmt)
                ours[fmt].append(rate)
                sizes[fmt] = size
    base = statistics.median(floor)
    return [
        BenchRow(
            "archival jsonl+zstd: topic → published files",
            statistics.median(ours["jsonl"]),
            base,
            "records/s",
            "bare aiokafka getmany → one raw file",
            ">= 0.6x",
        ),
        BenchRow(
            "archival jsonl+zstd: topic → published files",
            statistics.median(ours["jsonl"]),
            statistics.median(work_alone),
            "records/s",
            "bare getmany → check, JSON line, zstd",
            "",
        ),
        BenchRow(
            "bare getmany → check, JSON line, zstd",
            statistics.median(work_alone),
            base,
            "records/s",
            "bare aiokafka getmany → one raw file",
            "",
        ),
        BenchRow(
            "archival parquet: topic → published files",
            statistics.median(ours["parquet"]),
            base,
            "records/s",
            "bare aiokafka getmany → one raw file",
            "",
        ),
        BenchRow(
            "archive on disk per event, jsonl+zstd",
            sizes["jsonl"] / RECORDS,
            record_bytes / RECORDS,
            "bytes",
            "record key+value+headers",
            "",
        ),
        BenchRow(
            "archive on disk per event, parquet",
            sizes["parquet"] / RECORDS,
            record_bytes / RECORDS,
            "bytes",
            "record key+value+headers",
            "",
        ),
    ]


async def _fill(kafka: KafkaSettings, topic: str) -> int:
    """Produce RECORDS session events of SESSIONS sessions; returns their key+value+header bytes."""
    producer = AIOKafkaProducer(
        **client_options(kafka), acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=131_072
    )
    await producer.start()
    total = 0
    try:
        pending = []
        now = time.time()
        for i in range(RECORDS):
            ctx = SessionContext(session_id=f"bench-{i % SESSIONS}", agent_name="agent", source="bench")
            record = encode_event(
                "lkbus.session.ended",
                {
                    "reason": "user went away after a long conversation",
                    "last_seq": i,
                    "event_counts": {"a": i},
                },
                ctx,
                i // SESSIONS + 1,
                now,
            )
            total += len(record.key) + len(record.value) + sum(len(k) + len(v) for k, v in record.headers)
            pending.append(await producer.send(topic, record.value, key=record.key, headers=record.headers))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return total


async def _bare(kafka: KafkaSettings, topic: str, *, lines: bool = False) -> float:
    """The floor: assign every partition, getmany until all records, write raw values, fsync.

    With `lines`, each record is checked and written as the archive's JSON line through zstd, as
    the archiver does, but in this loop: the per-record work alone, without the consumer runtime.
    """
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    with tempfile.TemporaryDirectory(prefix="lkbus-bench-") as folder:
        path = Path(folder) / "raw"
        seen = 0
        started = 0.0
        try:
            with path.open("wb") as out:
                packed = zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False)
                while seen < RECORDS:
                    batch = await consumer.getmany(timeout_ms=200, max_records=500)
                    for records in batch.values():
                        if records and not started:
                            started = time.perf_counter()
                        if lines:
                            packed.write(b"".join(encode_line(_archivable(r)) for r in records))
                        else:
                            out.write(b"".join((r.value or b"") + b"\n" for r in records))
                        seen += len(records)
                packed.flush(zstandard.FLUSH_FRAME)
                out.flush()
                os.fsync(out.fileno())
            return RECORDS / (time.perf_counter() - started)
        finally:
            await consumer.stop()


def _archivable(record: ConsumerRecord[bytes, bytes]) -> Checked | Undecodable:
    try:
        return checked(record)
    except DecodeError as exc:
        return undecodable(record, exc)


async def _until(predicate: Callable[[], bool]) -> None:
    while True:
        if predicate():
            return
        await asyncio.sleep(0.002)


async def _archival(kafka: KafkaSettings, topics: TopicSettings, fmt: ArchiveFormat) -> tuple[float, int]:
    """Ours: the archival consumer in its own group; records/s and bytes on disk."""
    settings = Settings(
        kafka=kafka,
        topics=topics,
        consumer=ConsumerSettings(
            group_prefix=f"bench.{uuid.uuid4().hex[:8]}.", session_timeout_ms=6000, fetch_max_wait_ms=20
        ),
    )
    with tempfile.TemporaryDirectory(prefix="lkbus-bench-") as folder:
        root = Path(folder) / "archive"
        consumer = ArchivalConsumer(
            ArchivalSettings(root=str(root), format=fmt, topics=(topics.name(topics.session_events),))
        )
        service = ConsumerService(consumer, settings)
        await service.start()
        try:
            await _until(lambda: consumer.archiver is not None and consumer.archiver.stats.archived > 0)
            started = time.perf_counter()
            archiver = consumer.archiver
            assert archiver is not None
            await _until(lambda: archiver.stats.archived >= RECORDS)
            await asyncio.to_thread(archiver.close)
            elapsed = time.perf_counter() - started
        finally:
            await service.stop()
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return RECORDS / elapsed, size
