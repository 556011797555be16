"""Lines and rows keep every byte of a record; file names follow the Connect S3 scheme."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.archival.formats import Archivable, decode_line, encode_line, open_writer, read_records
from consumers.archival.layout import file_name, hour_of, parse_path, relative_path
from tests.unit.consumers.archival.records import T0_MS, checked, event, garbage


def test_a_json_line_round_trips_valid_and_garbage_records() -> None:
    for record in (event(7), checked(event(9)), garbage(8)):
        back = decode_line(encode_line(record))
        assert (back.topic, back.partition, back.offset, back.timestamp) == (
            record.topic,
            record.partition,
            record.offset,
            record.timestamp_ms,
        )
        assert (back.key, back.value, back.headers) == (record.key, record.value, record.headers)
    assert decode_line(encode_line(event(1))).valid
    one = event(1)
    assert encode_line(checked(one)) == encode_line(one), "checked or decoded, the same line"
    bad = decode_line(encode_line(garbage(2)))
    assert not bad.valid
    assert bad.error == "not_json"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_files_round_trip(fmt: str, tmp_path: Path) -> None:
    records: list[Archivable] = [event(0), garbage(1), event(2, ts_ms=T0_MS + 5), checked(event(3))]
    path = tmp_path / "f"
    writer = open_writer(fmt, path, 3)  # type: ignore[arg-type]
    writer.write(records)
    writer.close()
    assert path.stat().st_mode & 0o777 == 0o600
    with path.open("rb") as fh:
        back = list(read_records(fmt, fh, "f"))  # type: ignore[arg-type]
    assert [(r.offset, r.key, r.value, r.headers, r.timestamp, r.valid) for r in back] == [
        (r.offset, r.key, r.value, r.headers, r.timestamp_ms, i != 1) for i, r in enumerate(records)
    ]


def test_names_and_paths() -> None:
    hour = hour_of(T0_MS + 3_599_999)
    assert hour == datetime(2026, 5, 3, 3, tzinfo=UTC)
    name = file_name("lk.session.events", 3, 42, "jsonl")
    assert name == "lk.session.events+3+00000000000000000042.jsonl.zst"
    rel = relative_path("lk.session.events", hour, name)
    assert rel == f"lk.session.events/date=2026-05-03/hour=03/{name}"
    parsed = parse_path("/root/" + rel, 10)
    assert parsed is not None
    assert (parsed.topic, parsed.partition, parsed.first_offset, parsed.format, parsed.hour) == (
        "lk.session.events",
        3,
        42,
        "jsonl",
        hour,
    )
    assert parse_path(f"/root/.lkbus-staging/{name}.tmp", 1) is None
    assert parse_path("/root/README.md", 1) is None
    assert parsed.may_hold(hour, None)
    assert not parsed.may_hold(datetime(2026, 5, 3, 4, tzinfo=UTC), None)
    assert not parsed.may_hold(None, hour)


def test_a_parquet_row_of_a_checked_record_holds_the_decoded_envelope(tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    rows = []
    four = event(4)
    for record in (four, checked(four)):
        path = tmp_path / f"{type(record).__name__}.parquet"
        writer = open_writer("parquet", path, 3)
        writer.write([record])
        writer.close()
        rows.append(pq.read_table(path).to_pylist()[0])
    assert rows[0] == rows[1]
    assert rows[1]["session_id"] == "s1"
    assert rows[1]["type"] == "lkbus.session.ended"
