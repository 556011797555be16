"""Where a record goes: `<topic>/date=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first offset>.<ext>`.

The Kafka Connect S3 sink's exactly-once naming: a file is named by the first offset it holds,
so writing it again after a crash lands on the same name. Paths are partitioned by the hour
(UTC) of the record timestamp, which the producers set to the event's own time; a file never
spans two hours, so `--since/--until` prune whole folders. Offsets are zero-padded to 20 digits
so that names sort in offset order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from consumers.archival.settings import ArchiveFormat

EXTENSIONS: dict[ArchiveFormat, str] = {"jsonl": "jsonl.zst", "parquet": "parquet"}
STAGING_FOLDER = ".lkbus-staging"
HOUR = timedelta(hours=1)

_NAME = re.compile(
    r"^(?P<topic>[A-Za-z0-9._-]+)\+(?P<partition>\d+)\+(?P<offset>\d{20})\.(?P<ext>jsonl\.zst|parquet)$"
)
_DATE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_HOUR = re.compile(r"^hour=(\d{2})$")


def hour_of(timestamp_ms: int) -> datetime:
    """The UTC hour a record timestamp falls in (timestamps before 1970 count as 1970)."""
    seconds = max(0, timestamp_ms) // 1000
    return datetime.fromtimestamp(seconds - seconds % 3600, UTC)


def file_name(topic: str, partition: int, first_offset: int, fmt: ArchiveFormat) -> str:
    return f"{topic}+{partition}+{first_offset:020d}.{EXTENSIONS[fmt]}"


def relative_path(topic: str, hour: datetime, name: str) -> str:
    return f"{topic}/date={hour:%Y-%m-%d}/hour={hour:%H}/{name}"


def staging_name(topic: str, partition: int, first_offset: int, fmt: ArchiveFormat) -> str:
    """The temporary name of an open file (in the staging folder, never seen by readers)."""
    return f"{file_name(topic, partition, first_offset, fmt)}.tmp"


def staging_prefix(topic: str, partition: int) -> str:
    return f"{topic}+{partition}+"


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One archived file: whose records, from which offset, which hour, how big."""

    path: str
    """Path on the archive's filesystem (not a URL)."""
    topic: str
    partition: int
    first_offset: int
    format: ArchiveFormat
    hour: datetime | None
    """The hour of its records, from the folder names (None when the file was moved out of them)."""
    size: int

    def may_hold(self, since: datetime | None, until: datetime | None) -> bool:
        """Whether records in [since, until) can be in this file, judging by its hour."""
        if self.hour is None:
            return True
        if since is not None and self.hour + HOUR <= since:
            return False
        return not (until is not None and self.hour >= until)


def parse_path(path: str, size: int) -> ArchiveFile | None:
    """The archive file at `path`, or None when the name is not an archive file's."""
    parts = path.rstrip("/").split("/")
    match = _NAME.match(parts[-1])
    if match is None:
        return None
    ext = match["ext"]
    fmt: ArchiveFormat = "jsonl" if ext == "jsonl.zst" else "parquet"
    hour = None
    if len(parts) >= 3:
        date, hh = _DATE.match(parts[-3]), _HOUR.match(parts[-2])
        if date is not None and hh is not None:
            hour = datetime.fromisoformat(f"{date[1]}T{hh[1]}:00:00+00:00")
    return ArchiveFile(path, match["topic"], int(match["partition"]), int(match["offset"]), fmt, hour, size)
