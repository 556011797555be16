"""The spill journal: an append-only, crash-safe record log on local disk.

Segments are files `seg-<n>.journal` read in increasing `n`; appends go to the last segment and
`prepend` writes a new first one, so records that must go out first can be put back in front.
Each record is framed as `length, crc32, body`; a torn or corrupt record (a crash mid-write) is
detected, counted and skipped. A `.pos` file beside a segment remembers how far it was sent.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

logger = logging.getLogger("lkbus.producers.journal")

_FRAME = struct.Struct("<II")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_FIRST_SEGMENT = 10**12
_SUFFIX = ".journal"


class JournalRecord(NamedTuple):
    """A Kafka record waiting to be sent (a tuple: cheap to build on the agent's loop)."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    """As aiokafka takes them (a list); never changed once the record is made."""
    timestamp_ms: int

    def encode(self) -> bytes:
        topic = self.topic.encode()
        parts = [_U16.pack(len(topic)), topic, _U32.pack(len(self.key)), self.key]
        parts += [
            _U32.pack(len(self.value)),
            self.value,
            _I64.pack(self.timestamp_ms),
            _U16.pack(len(self.headers)),
        ]
        for name, value in self.headers:
            raw = name.encode()
            parts += [_U16.pack(len(raw)), raw, _U32.pack(len(value)), value]
        body = b"".join(parts)
        return _FRAME.pack(len(body), zlib.crc32(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> JournalRecord:
        view = memoryview(body)
        pos = 0

        def take(size: int) -> bytes:
            nonlocal pos
            chunk = bytes(view[pos : pos + size])
            if len(chunk) != size:
                raise ValueError("record body too short")
            pos += size
            return chunk

        topic = take(_U16.unpack(take(2))[0]).decode()
        key = take(_U32.unpack(take(4))[0])
        value = take(_U32.unpack(take(4))[0])
        timestamp_ms = _I64.unpack(take(8))[0]
        headers = []
        for _ in range(_U16.unpack(take(2))[0]):
            name = take(_U16.unpack(take(2))[0]).decode()
            headers.append((name, take(_U32.unpack(take(4))[0])))
        return cls(topic, key, value, headers, timestamp_ms)


def read_segment(path: Path) -> tuple[list[JournalRecord], int]:
    """Every intact record of a segment, and how many torn or corrupt ones were skipped."""
    data = path.read_bytes()
    records: list[JournalRecord] = []
    skipped = 0
    pos = 0
    while pos < len(data):
        if pos + _FRAME.size > len(data):
            skipped += 1
            break
        length, crc = _FRAME.unpack_from(data, pos)
        body = data[pos + _FRAME.size : pos + _FRAME.size + length]
        if len(body) < length:
            skipped += 1
            break
        pos += _FRAME.size + length
        if zlib.crc32(body) != crc:
            skipped += 1
            continue
        try:
            records.append(JournalRecord.decode(body))
        except (ValueError, UnicodeDecodeError, struct.error):
            skipped += 1
    return records, skipped


class Journal:
    """Records on disk, in order, within a byte budget. Not thread-safe: one owner."""

    def __init__(self, folder: Path, *, max_bytes: int, segment_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.skipped_records = 0
        self._segments: list[int] = []
        self._sizes: dict[int, int] = {}
        self._tail_file: _AppendFile | None = None
        self._head: list[JournalRecord] = []
        self._head_pos = 0
        self._head_segment: int | None = None
        self._pending_records = 0

    def open(self) -> None:
        """Find the segments a previous process left (they are sent first)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._segments = sorted(int(p.stem.removeprefix("seg-")) for p in self.folder.glob(f"seg-*{_SUFFIX}"))
        self._sizes = {n: self._path(n).stat().st_size for n in self._segments}
        self._pending_records = -1 if self._segments else 0

    @property
    def size_bytes(self) -> int:
        """Bytes of all segments on disk."""
        return sum(self._sizes.values())

    @property
    def is_empty(self) -> bool:
        """No record waits in the journal."""
        if self._head_pos < len(self._head):
            return False
        return not any(n != self._head_segment for n in self._segments)

    def append(self, records: Sequence[JournalRecord]) -> int:
        """Append records after all others; returns how many fit the disk budget (the rest are not)."""
        written = 0
        for record in records:
            frame = record.encode()
            if self.size_bytes + len(frame) > self.max_bytes:
                break
            tail = self._writable_tail(len(frame))
            tail.write(frame)
            self._sizes[tail.segment] += len(frame)
            written += 1
        if self._tail_file is not None:
            self._tail_file.flush()
        return written

    def prepend(self, records: Sequence[JournalRecord], *, unbudgeted: int = 0) -> int:
        """Write records as a new first segment, before everything else; returns how many fit.

        The first `unbudgeted` records are written even over the disk budget (a copy of a batch
        that is already counted elsewhere)."""
        if not records:
            return 0
        self._drop_head_buffer_into_segment()
        frames = []
        size = self.size_bytes
        for i, record in enumerate(records):
            frame = record.encode()
            if i >= unbudgeted and size + len(frame) > self.max_bytes:
                break
            frames.append(frame)
            size += len(frame)
        self._write_first_segment(frames)
        return len(frames)

    @property
    def first_segment(self) -> int | None:
        """The segment read first (the last one prepended), if any."""
        return self._segments[0] if self._segments else None

    @property
    def reading_segment(self) -> int | None:
        """The segment `peek` reads from, once it has read."""
        return self._head_segment

    def settle_front(self, segment: int | None, count: int, unsent: Sequence[JournalRecord]) -> None:
        """Mark the next `count` records of `segment` as sent, except `unsent` (some of them, in
        order), which stay in front. Crash-safe: `unsent` is written before the rest is marked
        sent, so a crash in between repeats records and never loses one. Does nothing when
        `segment` is no longer the one read first (its records are then sent again)."""
        if segment is None or count <= 0 or len(unsent) == count:
            return
        if self._head_segment is None and self.first_segment == segment:
            self._load_head()
        if self._head_segment != segment:
            return
        self._write_first_segment([record.encode() for record in unsent])
        self.consume(count)
        if unsent:
            self._drop_head_buffer_into_segment()  # the next read starts at the new first segment

    def peek(self, limit: int) -> list[JournalRecord]:
        """Up to `limit` records from the front, without consuming them."""
        if self._head_pos >= len(self._head) and not self._load_head():
            return []
        return self._head[self._head_pos : self._head_pos + limit]

    def consume(self, count: int) -> None:
        """Mark the first `count` peeked records as sent."""
        self._head_pos += count
        if self._head_segment is None:
            return
        if self._head_pos >= len(self._head):
            self._delete_segment(self._head_segment)
            self._head, self._head_pos, self._head_segment = [], 0, None
        else:
            _write_new(self._pos_path(self._head_segment), str(self._head_pos).encode())

    def close(self) -> None:
        """Flush and fsync the tail segment."""
        if self._tail_file is not None:
            self._tail_file.close()
            self._tail_file = None

    def _load_head(self) -> bool:
        while self._segments:
            first = self._segments[0]
            if self._tail_file is not None and self._tail_file.segment == first:
                self.close()
            records, skipped = read_segment(self._path(first))
            if skipped:
                self.skipped_records += skipped
                logger.warning("journal segment %s: skipped %d torn or corrupt record(s)", first, skipped)
            start = self._saved_position(first)
            if start < len(records):
                self._head, self._head_pos, self._head_segment = records, start, first
                return True
            self._delete_segment(first)
        return False

    def _write_first_segment(self, frames: list[bytes]) -> None:
        if not frames:
            return
        first = (min(self._segments) if self._segments else _FIRST_SEGMENT) - 1
        _write_new(self._path(first), b"".join(frames))
        self._segments.insert(0, first)
        self._sizes[first] = sum(len(f) for f in frames)

    def _drop_head_buffer_into_segment(self) -> None:
        """Forget the loaded head; its unsent part stays on disk with its saved position."""
        self._head, self._head_pos, self._head_segment = [], 0, None

    def _saved_position(self, segment: int) -> int:
        try:
            return int(self._pos_path(segment).read_text())
        except (OSError, ValueError):
            return 0

    def _writable_tail(self, frame_size: int) -> _AppendFile:
        tail = self._tail_file
        if tail is not None and self._sizes[tail.segment] + frame_size <= self.segment_bytes:
            return tail
        self.close()
        last = self._segments[-1] if self._segments else _FIRST_SEGMENT - 1
        segment = last + 1
        self._segments.append(segment)
        self._sizes[segment] = 0
        self._tail_file = _AppendFile(self._path(segment), segment)
        return self._tail_file

    def _delete_segment(self, segment: int) -> None:
        if self._tail_file is not None and self._tail_file.segment == segment:
            self.close()
        self._path(segment).unlink(missing_ok=True)
        self._pos_path(segment).unlink(missing_ok=True)
        self._segments.remove(segment)
        self._sizes.pop(segment, None)

    def _path(self, segment: int) -> Path:
        return self.folder / f"seg-{segment:020d}{_SUFFIX}"

    def _pos_path(self, segment: int) -> Path:
        return self.folder / f"seg-{segment:020d}.pos"


class _AppendFile:
    def __init__(self, path: Path, segment: int) -> None:
        self.segment = segment
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "ab")

    def write(self, frame: bytes) -> None:
        self._file.write(frame)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def _write_new(path: Path, data: bytes) -> None:
    """Write a whole file atomically (temporary name, fsync, rename)."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
