"""The two file formats: zstd-compressed JSON Lines (default) and Parquet.

Every line or row keeps what a faithful restore needs: topic, partition, offset, record
timestamp, key, headers and the value's exact bytes, plus whether the value was a valid event
(`valid`, and the decode failure's reason in `error` when it was not).

JSON Lines: bytes are JSON strings when they are UTF-8 (always, for valid events), else
`{"base64": "..."}`; headers are `[name, value]` pairs (names may repeat). One zstd frame per
file: `zstd -dc FILE | jq` reads it.

Parquet: the Kafka coordinates and the envelope's fields as typed columns, `data` as JSON text,
the value's exact bytes in `value`; envelope columns are null for records that are not valid events.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import zstandard

from consumers.archival.exceptions import ArchiveReadError
from consumers.archival.settings import ArchiveFormat
from consumers.runtime.records import Checked, Incoming, Undecodable
from schemas import decode

Archivable = Incoming | Checked | Undecodable

FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    """A record read back from the archive (the fields of aiokafka's `ConsumerRecord` replay needs)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    """Record timestamp, epoch milliseconds."""
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    valid: bool
    """Whether the value was a valid event when it was archived."""
    error: str | None = None
    """Why it was not (a `DecodeReason` value)."""


def _text(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def _bytes(text: Any) -> bytes:
    if isinstance(text, str):
        return text.encode()
    if isinstance(text, dict) and isinstance(text.get("base64"), str):
        return base64.b64decode(text["base64"], validate=True)
    raise ValueError(f"not an archived byte string: {type(text).__name__}")


def encode_line(record: Archivable) -> bytes:
    """One JSON line (with its newline) for a record."""
    key = record.key
    try:  # the common case in one pass: key, value and every header value are UTF-8 text
        headers: list[list[Any]] = [[name, value.decode()] for name, value in record.headers]
        key_text: Any = None if key is None else key.decode()
        value_text: Any = record.value.decode()
    except (UnicodeDecodeError, AttributeError):
        headers = [[name, _text(value)] for name, value in record.headers]
        key_text = _text(key)
        value_text = _text(record.value)
    line: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": key_text,
        "headers": headers,
        "value": value_text,
        "valid": True,
    }
    if type(record) is Undecodable:
        line["valid"] = False
        line["error"] = record.error.reason.value
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


def decode_line(line: bytes) -> ArchivedRecord:
    """The record a JSON line holds; raises ValueError when it is not one."""
    body = orjson.loads(line)
    key = body["key"]
    return ArchivedRecord(
        topic=str(body["topic"]),
        partition=int(body["partition"]),
        offset=int(body["offset"]),
        timestamp=int(body["timestamp"]),
        key=None if key is None else _bytes(key),
        value=_bytes(body["value"]),
        headers=tuple((str(name), _bytes(value)) for name, value in body["headers"]),
        valid=bool(body["valid"]),
        error=body.get("error"),
    )


_UTC_MS = pa.timestamp("ms", tz="UTC")
PARQUET_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", _UTC_MS),
        ("key", pa.binary()),
        ("headers", pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))),
        ("value", pa.binary()),
        ("valid", pa.bool_()),
        ("error", pa.string()),
        ("id", pa.string()),
        ("type", pa.string()),
        ("source", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("schema_version", pa.string()),
        ("session_id", pa.string()),
        ("agent_name", pa.string()),
        ("job_id", pa.string()),
        ("room_name", pa.string()),
        ("room_sid", pa.string()),
        ("participant_identity", pa.string()),
        ("seq", pa.int64()),
        ("data", pa.string()),
    ]
)
_READ_COLUMNS = ["topic", "partition", "offset", "timestamp", "key", "headers", "value", "valid", "error"]
_ENVELOPE = (
    "id",
    "type",
    "source",
    "time",
    "schema_version",
    "session_id",
    "agent_name",
    "job_id",
    "room_name",
    "room_sid",
    "participant_identity",
    "seq",
)


class FileWriter(Protocol):
    """An open archive file in the staging folder."""

    def write(self, records: Sequence[Archivable]) -> None: ...

    def close(self) -> None:
        """Write what is buffered, fsync and close."""

    def abort(self) -> None:
        """Close without caring for the content (the file is deleted next)."""


def _create(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    return os.fdopen(fd, "wb")


def _sync_close(fh: IO[bytes]) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


class JsonlWriter:
    def __init__(self, path: Path, level: int) -> None:
        self._fh = _create(path)
        self._zw = zstandard.ZstdCompressor(level=level).stream_writer(self._fh, closefd=False)

    def write(self, records: Sequence[Archivable]) -> None:
        self._zw.write(b"".join(encode_line(r) for r in records))

    def close(self) -> None:
        self._zw.flush(zstandard.FLUSH_FRAME)
        self._zw.close()  # type: ignore[no-untyped-call, unused-ignore]
        _sync_close(self._fh)

    def abort(self) -> None:
        self._fh.close()


class ParquetWriter:
    ROW_GROUP = 20_000

    def __init__(self, path: Path) -> None:
        self._fh = _create(path)
        self._writer = pq.ParquetWriter(self._fh, PARQUET_SCHEMA, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, records: Sequence[Archivable]) -> None:
        for record in records:
            self._rows.append(_row(record))
        if len(self._rows) >= self.ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=PARQUET_SCHEMA))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()
        _sync_close(self._fh)

    def abort(self) -> None:
        self._fh.close()


def _row(record: Archivable) -> dict[str, Any]:
    row: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": record.key,
        "headers": [{"key": name, "value": value} for name, value in record.headers],
        "value": record.value,
        "valid": not isinstance(record, Undecodable),
        "error": record.error.reason.value if isinstance(record, Undecodable) else None,
    }
    if not isinstance(record, Undecodable):
        event = record.event if isinstance(record, Incoming) else decode(record.value, record.headers)
        for name in _ENVELOPE:
            row[name] = getattr(event, name)
        row["data"] = event.data.model_dump_json()
    return row


def open_writer(fmt: ArchiveFormat, path: Path, zstd_level: int) -> FileWriter:
    return JsonlWriter(path, zstd_level) if fmt == "jsonl" else ParquetWriter(path)


def read_records(fmt: ArchiveFormat, fh: IO[bytes], name: str) -> Iterator[ArchivedRecord]:
    """The records of one archive file, in file (offset) order."""
    try:
        if fmt == "jsonl":
            reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=False)
            for line in io.BufferedReader(reader, buffer_size=1 << 20):
                if line.strip():
                    yield decode_line(line)
        else:
            parquet = pq.ParquetFile(fh)
            for batch in parquet.iter_batches(columns=_READ_COLUMNS, batch_size=8192):
                for row in batch.to_pylist():
                    yield ArchivedRecord(
                        topic=row["topic"],
                        partition=row["partition"],
                        offset=row["offset"],
                        timestamp=round(row["timestamp"].timestamp() * 1000),
                        key=row["key"],
                        value=row["value"],
                        headers=tuple((h["key"], h["value"]) for h in row["headers"]),
                        valid=row["valid"],
                        error=row["error"],
                    )
    except (ValueError, KeyError, TypeError, OSError, zstandard.ZstdError, pa.ArrowException) as exc:
        raise ArchiveReadError(f"cannot read archive file {name}: {exc}; is it an lkbus archive?") from exc


def last_offset(fmt: ArchiveFormat, fh: IO[bytes], name: str) -> int | None:
    """The last offset in a file (None when it is empty)."""
    if fmt == "parquet":
        try:
            column = pq.ParquetFile(fh).read(columns=["offset"]).column("offset")
        except (OSError, pa.ArrowException) as exc:
            raise ArchiveReadError(f"cannot read archive file {name}: {exc}") from exc
        return None if len(column) == 0 else int(pc.max(column).as_py())
    last = b""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=False)
        for line in io.BufferedReader(reader, buffer_size=1 << 20):
            if line.strip():
                last = line
        return None if not last else decode_line(last).offset
    except (ValueError, KeyError, TypeError, OSError, zstandard.ZstdError) as exc:
        raise ArchiveReadError(f"cannot read archive file {name}: {exc}; is it an lkbus archive?") from exc
