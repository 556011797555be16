"""Re-publish archived records to a topic, with their keys, headers and timestamps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from consumers.archival.exceptions import RestoreError
from consumers.archival.formats import ArchivedRecord
from consumers.archival.layout import ArchiveFile
from consumers.archival.reader import archive_files, file_records
from consumers.archival.storage import ArchiveRoot
from lkbus.errors import KafkaUnavailableError
from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings

SEND_WINDOW = 5000


@dataclass(slots=True)
class RestoreStats:
    files: int = 0
    """Archive files read."""
    total_bytes: int = 0
    """Bytes on disk of the files to read."""
    read_bytes: int = 0
    sent: int = 0


Progress = Callable[[RestoreStats], None]


async def restore(
    kafka: KafkaSettings,
    root: str | Path,
    to_topic: str,
    *,
    topics: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
    keep_partitions: bool = True,
    on_progress: Progress | None = None,
) -> RestoreStats:
    """Send the archived records (filtered) to `to_topic`, each partition in offset order.

    With `keep_partitions` a record goes to the partition it came from (the order of every
    partition is kept as it was); otherwise the producer picks by key (the order of every
    session is kept). acks=all and idempotence: a restore that ends without error has them all.
    """
    archive = ArchiveRoot(str(root))
    files = await asyncio.to_thread(archive_files, archive, topics=topics, since=since, until=until)
    stats = RestoreStats(total_bytes=sum(f.size for f in files))
    producer = AIOKafkaProducer(
        **client_options(kafka),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=131_072,
    )
    try:
        await producer.start()
    except KafkaError as exc:
        raise KafkaUnavailableError(
            f"cannot reach Kafka at {kafka.bootstrap_servers} ({exc.__class__.__name__}); "
            "start it (lkbus broker start) or set LKBUS_KAFKA__BOOTSTRAP_SERVERS"
        ) from None
    try:
        available = await producer.partitions_for(to_topic)
        if not available:
            raise RestoreError(f"topic {to_topic} does not exist; create it first (same partition count)")
        for file in files:
            records = await asyncio.to_thread(_read, archive, file, since, until, session)
            await _send(producer, to_topic, records, available if keep_partitions else None)
            stats.files += 1
            stats.read_bytes += file.size
            stats.sent += len(records)
            if on_progress is not None:
                on_progress(stats)
        await producer.flush()
    except KafkaError as exc:
        raise RestoreError(f"restore into {to_topic} failed: {exc.__class__.__name__}: {exc}") from exc
    finally:
        await producer.stop()
    return stats


def _read(
    archive: ArchiveRoot,
    file: ArchiveFile,
    since: datetime | None,
    until: datetime | None,
    session: str | None,
) -> list[ArchivedRecord]:
    return list(file_records(archive, file, since=since, until=until, session=session))


async def _send(
    producer: AIOKafkaProducer, topic: str, records: list[ArchivedRecord], partitions: set[int] | None
) -> None:
    pending: list[asyncio.Future[object]] = []
    for record in records:
        if partitions is not None and record.partition not in partitions:
            raise RestoreError(
                f"{topic} has no partition {record.partition} (it has {len(partitions)}); "
                "create it with as many partitions as the archived topic, or restore with --by-key"
            )
        pending.append(
            await producer.send(
                topic,
                record.value,
                key=record.key,
                headers=list(record.headers),
                partition=record.partition if partitions is not None else None,
                timestamp_ms=record.timestamp,
            )
        )
        if len(pending) >= SEND_WINDOW:
            await asyncio.gather(*pending)
            pending = []
    if pending:
        await asyncio.gather(*pending)
