"""The archiver without Kafka: rolling, commit hold-back, exactly once across a crash, storage errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
import zstandard
from aiokafka import TopicPartition

from consumers.archival import ArchivalSettings, ArchiveStorageError, iter_archived, prune
from consumers.archival.archiver import Archiver
from consumers.archival.formats import Archivable
from consumers.archival.layout import hour_of
from consumers.archival.storage import ArchiveRoot
from tests.unit.consumers.archival.records import T0_MS, event, garbage

TP = TopicPartition("t", 0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def archiver(root: Path, clock: Clock | None = None, **config: object) -> Archiver:
    settings = ArchivalSettings(root=str(root), **config)
    a = Archiver(ArchiveRoot(settings.root), settings, clock=clock or Clock())
    a.assign([TP])
    return a


def offsets(root: Path) -> list[int]:
    return [r.offset for r in iter_archived(root)]


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ".lkbus-staging" not in p.parts)


def test_rolls_by_count_and_holds_commits_at_the_open_file(tmp_path: Path) -> None:
    a = archiver(tmp_path, max_records=4)
    a.append([event(i) for i in range(10)])
    assert [p.name.split("+")[2][:20] for p in files(tmp_path)] == [f"{0:020d}", f"{4:020d}"]
    assert offsets(tmp_path) == list(range(8))
    assert a.hold({TP: 10}) == {TP: 8}, "records 8 and 9 are only in the open file"
    a.close()
    assert offsets(tmp_path) == list(range(10))
    assert a.hold({TP: 10}) == {TP: 10}


def test_rolls_by_bytes_age_and_hour(tmp_path: Path) -> None:
    clock = Clock()
    size = len(event(0).value) + len(event(0).key or b"")
    a = archiver(tmp_path, clock, max_bytes=max(1024, size * 3))
    per_file = max(1024, size * 3) // size
    a.append([event(i) for i in range(per_file + 1)])
    assert len(files(tmp_path)) == 1
    clock.now = 1000.0
    a.roll_due()
    assert len(files(tmp_path)) == 2, "rolled by age"
    a.append([event(100, ts_ms=T0_MS + 3_600_000), event(101, ts_ms=T0_MS + 3_600_001)])
    a.append([event(102, ts_ms=T0_MS + 7_200_000)])
    a.close()
    hours = sorted({p.parent.name for p in files(tmp_path)})
    assert hours == ["hour=03", "hour=04", "hour=05"]
    for path in files(tmp_path):
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_crash_then_redelivery_archives_nothing_twice(tmp_path: Path) -> None:
    a = archiver(tmp_path, max_records=5)
    a.append([event(i) for i in range(12)])  # 0-9 published, 10-11 open; then the process dies
    assert len(list((tmp_path / ".lkbus-staging").iterdir())) == 1
    a.open[TP].writer.abort()  # the process dies: its file descriptor goes, the file stays
    b = archiver(tmp_path, max_records=5)
    assert b.stats.stale_removed == 1
    assert not list((tmp_path / ".lkbus-staging").iterdir())
    committed = 7  # a commit from before the crash: 7-11 come again
    b.append([event(i) for i in range(committed, 15)])
    b.close()
    assert offsets(tmp_path) == list(range(15))
    assert b.stats.skipped == 3


def test_a_retried_batch_is_not_archived_twice(tmp_path: Path) -> None:
    a = archiver(tmp_path)
    batch: list[Archivable] = [event(0), garbage(1), event(2)]
    a.append(batch)
    a.append(batch)
    a.close()
    assert offsets(tmp_path) == [0, 1, 2]
    assert (a.stats.archived, a.stats.invalid) == (3, 1)


def test_third_party_readers(tmp_path: Path) -> None:
    jsonl, parquet = tmp_path / "j", tmp_path / "p"
    for root, fmt in ((jsonl, "jsonl"), (parquet, "parquet")):
        a = archiver(root, format=fmt)
        a.append([event(0), garbage(1), event(2)])
        a.close()
    (zst,) = files(jsonl)
    lines = zstandard.ZstdDecompressor().decompressobj().decompress(zst.read_bytes()).splitlines()
    assert len(lines) == 3
    (pqt,) = files(parquet)
    table = pq.read_table(pqt)
    assert table.num_rows == 3
    assert table.column("session_id").to_pylist() == ["s1", None, "s1"]
    assert table.column("valid").to_pylist() == [True, False, True]
    assert table.column("type").to_pylist()[0] == "lkbus.session.ended"


def test_a_storage_error_holds_commits_until_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = archiver(tmp_path, max_records=3)
    a.append([event(i) for i in range(4)])  # 0-2 published, 3 open

    def broken(*args: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(a.root, "publish", broken)
    with pytest.raises(ArchiveStorageError):
        a.append([event(i) for i in range(4, 8)])
    with pytest.raises(ArchiveStorageError):
        a.append([event(8)])
    assert a.hold({TP: 9}) == {TP: 3}
    monkeypatch.undo()
    b = archiver(tmp_path, max_records=3)
    b.append([event(i) for i in range(3, 9)])
    b.close()
    assert offsets(tmp_path) == list(range(9))


def test_filters_and_retention(tmp_path: Path) -> None:
    a = archiver(tmp_path)
    a.append([event(0, session="a"), event(1, session="b"), event(2, session="a", ts_ms=T0_MS + 3_600_000)])
    a.close()
    assert [r.offset for r in iter_archived(tmp_path, session="a")] == [0, 2]
    later = hour_of(T0_MS + 3_600_000)
    assert [r.offset for r in iter_archived(tmp_path, since=later)] == [2]
    assert [r.offset for r in iter_archived(tmp_path, until=later)] == [0, 1]
    assert prune(ArchiveRoot(str(tmp_path)), later) == 1
    assert offsets(tmp_path) == [2]
    assert not (tmp_path / "t" / "date=2026-05-03" / "hour=03").exists()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_an_object_storage_root_gets_whole_files_and_reads_back(tmp_path: Path, fmt: str) -> None:
    """An fsspec URL root (fsspec's in-memory store standing in for s3:// or gs://): files are
    staged locally, uploaded whole under their final names, listed, read back, resumed and pruned."""
    import uuid
    from datetime import timedelta

    import fsspec  # type: ignore[import-untyped, unused-ignore]

    url = f"memory://lkbus-test-{uuid.uuid4().hex[:8]}/archive"
    staging = tmp_path / "staging"
    settings = ArchivalSettings(root=url, format=fmt, max_records=3)
    root = ArchiveRoot(url, staging)
    a = Archiver(root, settings, clock=Clock())
    a.assign([TP])
    a.append([event(i) for i in range(5)] + [garbage(5)])
    a.close()
    assert not [p for p in staging.iterdir() if p.is_file()], "nothing left in staging"
    fs = fsspec.filesystem("memory")
    names = sorted(path.rsplit("/", 1)[1] for path in fs.find(url.removeprefix("memory:/")))
    assert len(names) == 2
    assert all(name.startswith("t+0+") for name in names)
    archived = list(iter_archived(ArchiveRoot(url, staging)))
    assert [r.offset for r in archived] == list(range(6))
    assert [r.valid for r in archived] == [True] * 5 + [False]

    again = Archiver(ArchiveRoot(url, staging), settings, clock=Clock())
    again.assign([TP])  # a restart finds where the archive ends in the object store
    again.append([event(i) for i in range(4, 8)])
    again.close()
    assert [r.offset for r in iter_archived(ArchiveRoot(url, staging))] == list(range(8))
    assert again.stats.skipped == 2

    removed = prune(ArchiveRoot(url, staging), hour_of(T0_MS) + timedelta(hours=1))
    assert removed == 3
    assert list(iter_archived(ArchiveRoot(url, staging))) == []
