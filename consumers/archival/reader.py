"""Read the archive back: `iter_archived` (records) and `summarize` (what `lkbus archive ls` shows)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from consumers.archival.formats import ArchivedRecord, read_records
from consumers.archival.layout import ArchiveFile
from consumers.archival.storage import ArchiveRoot


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def archive_files(
    root: str | Path | ArchiveRoot,
    *,
    topics: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ArchiveFile]:
    """The archive files that may hold records of `topics` in [since, until), in offset order."""
    archive = root if isinstance(root, ArchiveRoot) else ArchiveRoot(str(root))
    return [f for f in archive.files(topics) if f.may_hold(since, until)]


def iter_archived(
    root: str | Path | ArchiveRoot,
    *,
    topics: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
    partitions: Iterable[int] | None = None,
) -> Iterator[ArchivedRecord]:
    """Every archived record under `root` (a folder, an fsspec URL, or one archive file).

    Order: by topic, then partition, then offset, which is each partition's order in Kafka.
    `since` (inclusive) and `until` (exclusive) filter by record timestamp (aware datetimes);
    `session` keeps the records whose key is that session id.
    """
    archive = root if isinstance(root, ArchiveRoot) else ArchiveRoot(str(root))
    wanted = None if partitions is None else set(partitions)
    for file in archive_files(archive, topics=topics, since=since, until=until):
        if wanted is None or file.partition in wanted:
            yield from file_records(archive, file, since=since, until=until, session=session)


def file_records(
    archive: ArchiveRoot,
    file: ArchiveFile,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
) -> Iterator[ArchivedRecord]:
    """The records of one archive file that pass the filters, in offset order."""
    start, stop = _ms(since), _ms(until)
    key = None if session is None else session.encode()
    with archive.open(file.path) as fh:
        for record in read_records(file.format, fh, file.path):
            if (
                (start is not None and record.timestamp < start)
                or (stop is not None and record.timestamp >= stop)
                or (key is not None and record.key != key)
            ):
                continue
            yield record


@dataclass(slots=True)
class TopicSummary:
    """What the archive holds of one topic (within the filters)."""

    topic: str
    files: int = 0
    size: int = 0
    """Bytes on disk of the files read."""
    records: int = 0
    invalid: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    partitions: set[int] = field(default_factory=set)
    sessions: set[bytes] = field(default_factory=set)


def summarize(
    root: str | Path | ArchiveRoot,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
) -> list[TopicSummary]:
    """Per topic: files, bytes, records, invalid records, sessions and time range."""
    archive = root if isinstance(root, ArchiveRoot) else ArchiveRoot(str(root))
    summaries: dict[str, TopicSummary] = {}
    for file in archive_files(archive, since=since, until=until):
        summary = summaries.setdefault(file.topic, TopicSummary(file.topic))
        matched = 0
        for record in file_records(archive, file, since=since, until=until, session=session):
            matched += 1
            summary.records += 1
            summary.invalid += not record.valid
            if record.key is not None:
                summary.sessions.add(record.key)
            ts = record.timestamp
            summary.first_ms = ts if summary.first_ms is None else min(summary.first_ms, ts)
            summary.last_ms = ts if summary.last_ms is None else max(summary.last_ms, ts)
        if matched:
            summary.files += 1
            summary.size += file.size
            summary.partitions.add(file.partition)
    return [s for s in sorted(summaries.values(), key=lambda s: s.topic) if s.records]
