"""`RecordSource` over the archive written by the archival consumer (`--from-archive ROOT`).

Archived records carry their topic, partition, offset and timestamp, so every `--from`/`--to`
form means what it means on Kafka: offsets are the original ones, and a time selects the
first record stamped at or after it in each partition. Files are read in a worker thread,
a chunk at a time, and merged by timestamp like the Kafka source. An archive cannot be
followed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

from lkbus.errors import TopicError
from lkbus.replay.exceptions import ReplayOptionError
from lkbus.replay.merge import Keep, TimestampMerger
from lkbus.replay.position import AtTime, Position
from lkbus.replay.source import (
    TP,
    PartitionRange,
    ReadPlan,
    ReadRequest,
    SourceRecord,
    resolve_offset,
    select_partitions,
)

if TYPE_CHECKING:
    from consumers.archival.formats import ArchivedRecord

CHUNK = 1000


class ArchiveRecordSource:
    """Replays archived records from a folder, an fsspec URL or one archive file.

    Requested topics the archive does not hold read as empty; none of them is an error.
    """

    def __init__(self, root: str | Path) -> None:
        self._root = str(root)
        self._ranges: list[PartitionRange] = []
        self._keep: Keep | None = None
        self._merger: TimestampMerger | None = None

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
        if request.stop is None:
            raise ReplayOptionError("--follow cannot follow an archive; drop --follow or --from-archive")
        self._ranges = await asyncio.to_thread(self._plan, request)
        self._keep = request.keep
        return ReadPlan(tuple(self._ranges))

    def _plan(self, request: ReadRequest) -> list[PartitionRange]:
        from consumers.archival.reader import archive_files

        counts: dict[str, int] = {}
        for file in archive_files(self._root, topics=request.topics):
            counts[file.topic] = max(counts.get(file.topic, 0), file.partition + 1)
        if not counts:
            raise TopicError(
                f"no archived records of {', '.join(request.topics)} under {self._root}; "
                "`lkbus archive ls` shows what the archive holds"
            )
        assert request.stop is not None
        archived = replace(request, topics=tuple(t for t in request.topics if t in counts))
        ranges = []
        for topic, partition in select_partitions(archived, counts):
            first, end, start_at, stop_at = self._scan((topic, partition), request.start, request.stop)
            start = self._resolve(request.start, partition, first, end, start_at, "start")
            stop = self._resolve(request.stop, partition, first, end, stop_at, "stop")
            ranges.append(PartitionRange(topic, partition, start, max(start, stop)))
        return ranges

    def _scan(self, tp: TP, start: Position, stop: Position) -> tuple[int, int, int | None, int | None]:
        """First and end offsets of a partition, and where `AtTime` positions fall in it."""
        first: int | None = None
        end = 0
        start_ms = start.epoch_ms if isinstance(start, AtTime) else None
        stop_ms = stop.epoch_ms + 1 if isinstance(stop, AtTime) else None
        start_at: int | None = None
        stop_at: int | None = None
        for record in self._records(tp):
            first = record.offset if first is None else first
            end = record.offset + 1
            if start_at is None and start_ms is not None and record.timestamp >= start_ms:
                start_at = record.offset
            if stop_at is None and stop_ms is not None and record.timestamp >= stop_ms:
                stop_at = record.offset
        return (first if first is not None else 0), end, start_at, stop_at

    @staticmethod
    def _resolve(
        position: Position,
        partition: int,
        first: int,
        end: int,
        at_time: int | None,
        role: Literal["start", "stop"],
    ) -> int:
        return resolve_offset(position, partition=partition, first=first, end=end, at_time=at_time, role=role)

    def _records(self, tp: TP) -> Iterator[ArchivedRecord]:
        from consumers.archival.reader import iter_archived

        return iter_archived(self._root, topics=[tp[0]], partitions=[tp[1]])

    async def batches(self, stop: asyncio.Event) -> AsyncGenerator[Sequence[SourceRecord], None]:
        ranges = {(r.topic, r.partition): r for r in self._ranges if r.stop is not None and r.stop > r.start}
        merger = self._merger = TimestampMerger(
            {tp: (r.start, r.stop) for tp, r in ranges.items()}, bounded=True, keep=self._keep
        )
        readers = {tp: self._records(tp) for tp in ranges}
        while not merger.finished and not stop.is_set():
            for tp in merger.starving:
                r = ranges[tp]
                chunk = await asyncio.to_thread(_take, readers[tp], r.start, r.stop or 0)
                merger.add(tp, chunk)
                if len(chunk) < CHUNK:
                    merger.advance(tp, r.stop or 0)
            ready = merger.pop_ready()
            if ready:
                yield ready


def _take(records: Iterator[ArchivedRecord], start: int, stop: int) -> list[ArchivedRecord]:
    """Up to `CHUNK` records in [start, stop); fewer means the partition is read."""
    wanted = (r for r in records if r.offset >= start)
    return list(itertools.islice(itertools.takewhile(lambda r: r.offset < stop, wanted), CHUNK))
