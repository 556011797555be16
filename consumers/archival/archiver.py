"""The archiver: appends records to one open file per partition, rolls and publishes files.

Pure of Kafka, synchronous (the consumer runs it in a worker thread), unit-testable.

Exactly once per partition: the archived offsets of a partition are always a prefix of what
was read (one open file per partition; a file is published before the next one opens), and
`next_offset` is where that prefix ends. Records below it are skipped, so a batch delivered
again (a retry, or after a crash between publish and commit) archives nothing twice. On
assignment `next_offset` is found from the archive itself: the last file of the partition
(names sort by first offset) and the last offset in it. Offsets are committed only up to the
first offset of the open file (`hold`), so a crash loses nothing that was not published.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import zstandard
from aiokafka import TopicPartition

from consumers.archival.exceptions import ArchiveStorageError
from consumers.archival.formats import Archivable, FileWriter, last_offset, open_writer
from consumers.archival.layout import ArchiveFile, file_name, hour_of, staging_name, staging_prefix
from consumers.archival.settings import ArchivalSettings
from consumers.archival.storage import ArchiveRoot
from consumers.runtime.records import Undecodable

HOUR_MS = 3_600_000

logger = logging.getLogger("lkbus.consumers.archival")

STORAGE_ERRORS = (OSError, ValueError, zstandard.ZstdError, pa.ArrowException)


@dataclass(slots=True)
class OpenFile:
    """The file a partition is being archived into, in the staging folder."""

    topic: str
    partition: int
    first_offset: int
    hour: datetime
    staged: Path
    writer: FileWriter
    opened_at: float
    records: int = 0
    bytes: int = 0
    hour_start_ms: int = field(init=False)

    def __post_init__(self) -> None:
        self.hour_start_ms = int(self.hour.timestamp()) * 1000


@dataclass(slots=True)
class ArchiverStats:
    archived: int = 0
    invalid: int = 0
    """Records archived that were not valid events."""
    skipped: int = 0
    """Records delivered again that were already archived."""
    files: int = 0
    stale_removed: int = 0


class Archiver:
    def __init__(
        self,
        root: ArchiveRoot,
        config: ArchivalSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self.config = config
        self.clock = clock
        self.next_offset: dict[TopicPartition, int] = {}
        self.open: dict[TopicPartition, OpenFile] = {}
        self.broken: dict[TopicPartition, int] = {}
        """Partitions whose open file was lost to a storage error: the offset to restart from."""
        self.stats = ArchiverStats()
        self._prepared = False

    # --- partitions ---------------------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Take partitions over: remove their stale open files, find where their archive ends."""
        self._prepare()
        wanted = sorted(partitions, key=lambda tp: (tp.topic, tp.partition))
        if not wanted:
            return
        last_file: dict[TopicPartition, ArchiveFile] = {}
        for file in self.root.files({tp.topic for tp in wanted}):
            last_file[TopicPartition(file.topic, file.partition)] = file  # sorted: the last one wins
        for tp in wanted:
            self.stats.stale_removed += self.root.clean_staging(staging_prefix(tp.topic, tp.partition))
            self.broken.pop(tp, None)
            latest = last_file.get(tp)
            if latest is None:
                self.next_offset.pop(tp, None)
                continue
            with self.root.open(latest.path) as fh:
                last = last_offset(latest.format, fh, latest.path)
            self.next_offset[tp] = (latest.first_offset if last is None else last) + 1

    def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        """Publish the open files of partitions another instance takes over, and forget them."""
        for tp in partitions:
            self._publish_or_break(tp)
            self.next_offset.pop(tp, None)
            self.broken.pop(tp, None)

    def close(self) -> None:
        """Publish every open file (on shutdown)."""
        for tp in list(self.open):
            self._publish_or_break(tp)

    def hold(self, processed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """How far offsets may be committed: never past the first offset of an open file."""
        result = dict(processed)
        for tp in result:
            current = self.open.get(tp)
            stop = self.broken.get(tp, None if current is None else current.first_offset)
            if stop is not None:
                result[tp] = min(result[tp], stop)
        return result

    # --- records ------------------------------------------------------------------------------

    def append(self, batch: Sequence[Archivable]) -> None:
        """Archive a batch (records of several partitions, each in offset order)."""
        by_tp: dict[tuple[str, int], list[Archivable]] = {}
        for record in batch:
            where = (record.topic, record.partition)
            records = by_tp.get(where)
            if records is None:
                records = by_tp[where] = []
            records.append(record)
        failed: ArchiveStorageError | None = None
        for (topic, partition), records in by_tp.items():
            try:
                self._append(TopicPartition(topic, partition), records)
            except ArchiveStorageError as exc:
                failed = failed or exc
        self.roll_due()
        if failed is not None:
            raise failed

    def _append(self, tp: TopicPartition, records: list[Archivable]) -> None:
        if tp in self.broken:
            raise ArchiveStorageError(
                f"archiving {tp.topic}/{tp.partition} stopped after a storage error; restart the consumer"
            )
        start = self.next_offset.get(tp)
        if start is not None:
            fresh = [r for r in records if r.offset >= start]
            self.stats.skipped += len(records) - len(fresh)
            records = fresh
        max_records, max_bytes = self.config.max_records, self.config.max_bytes
        try:
            run: list[Archivable] = []
            current = self.open.get(tp)
            for record in records:
                ts = record.timestamp_ms
                if ts < 0:
                    ts = 0  # as hour_of counts it
                key = record.key
                size = len(record.value) + (len(key) if key else 0)
                if current is not None and (
                    not current.hour_start_ms <= ts < current.hour_start_ms + HOUR_MS
                    or current.records + len(run) >= max_records
                    or current.bytes + size > max_bytes
                ):
                    self._write(current, run)
                    run = []
                    self._publish(tp)
                    current = None
                if current is None:
                    current = self._open(tp, record.offset, hour_of(ts))
                run.append(record)
                current.bytes += size
            if current is not None and run:
                self._write(current, run)
        except STORAGE_ERRORS as exc:
            raise self._break(tp, exc) from exc
        if records:
            self.next_offset[tp] = records[-1].offset + 1

    def _write(self, current: OpenFile, run: list[Archivable]) -> None:
        current.writer.write(run)
        current.records += len(run)
        invalid = sum(1 for r in run if isinstance(r, Undecodable))
        self.stats.archived += len(run)
        self.stats.invalid += invalid

    def roll_due(self) -> None:
        """Publish the files that are full or old enough."""
        now = self.clock()
        failed: ArchiveStorageError | None = None
        for tp, current in list(self.open.items()):
            if (
                now - current.opened_at >= self.config.max_age_s
                or current.records >= self.config.max_records
                or current.bytes >= self.config.max_bytes
            ):
                failed = self._publish_or_break(tp) or failed
        if failed is not None:
            raise failed

    # --- files --------------------------------------------------------------------------------

    def _prepare(self) -> None:
        if not self._prepared:
            self.root.prepare()
            self._prepared = True

    def _open(self, tp: TopicPartition, first_offset: int, hour: datetime) -> OpenFile:
        self._prepare()
        fmt = self.config.format
        staged = self.root.staging_path(staging_name(tp.topic, tp.partition, first_offset, fmt))
        writer = open_writer(fmt, staged, self.config.zstd_level)
        current = OpenFile(tp.topic, tp.partition, first_offset, hour, staged, writer, self.clock())
        self.open[tp] = current
        return current

    def _publish(self, tp: TopicPartition) -> None:
        current = self.open[tp]
        current.writer.close()
        name = file_name(tp.topic, tp.partition, current.first_offset, self.config.format)
        self.root.publish(current.staged, tp.topic, current.hour, name)
        del self.open[tp]
        self.stats.files += 1

    def _publish_or_break(self, tp: TopicPartition) -> ArchiveStorageError | None:
        if tp not in self.open:
            return None
        try:
            self._publish(tp)
        except STORAGE_ERRORS as exc:
            return self._break(tp, exc)
        return None

    def _break(self, tp: TopicPartition, exc: Exception) -> ArchiveStorageError:
        """A storage error: drop the open file, hold commits at its first offset until a restart."""
        current = self.open.pop(tp, None)
        restart = current.first_offset if current is not None else self.next_offset.get(tp, 0)
        if current is not None:
            with contextlib.suppress(*STORAGE_ERRORS):
                current.writer.abort()
            with contextlib.suppress(OSError):
                current.staged.unlink(missing_ok=True)
        self.broken[tp] = min(self.broken.get(tp, restart), restart)
        logger.error(
            "archival: cannot write %s/%d (%s: %s); commits held at offset %d, restart the consumer",
            tp.topic,
            tp.partition,
            exc.__class__.__name__,
            exc,
            restart,
        )
        return ArchiveStorageError(
            f"archiving {tp.topic}/{tp.partition} failed: {exc.__class__.__name__}: {exc}"
        )
