"""The spill journal: order, prepend, budget, torn records, restart."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from producers.journal import Journal, JournalRecord, read_segment


def rec(n: int, size: int = 10) -> JournalRecord:
    return JournalRecord(
        topic="t",
        key=f"s{n % 3}".encode(),
        value=str(n).encode().ljust(size, b" "),
        headers=[("ce_type", b"x"), ("n", str(n).encode())],
        timestamp_ms=1_700_000_000_000 + n,
    )


def drain(journal: Journal) -> list[int]:
    out = []
    while batch := journal.peek(7):
        out += [int(r.value) for r in batch]
        journal.consume(len(batch))
    return out


def make(folder: Path, max_bytes: int = 1 << 20, segment_bytes: int = 400) -> Journal:
    journal = Journal(folder, max_bytes=max_bytes, segment_bytes=segment_bytes)
    journal.open()
    return journal


def test_records_round_trip_in_order_across_segments(tmp_path: Path) -> None:
    journal = make(tmp_path)
    assert journal.append([rec(i) for i in range(50)]) == 50
    assert len(list(tmp_path.glob("*.journal"))) > 1, "small segments roll"
    assert not journal.is_empty
    first = journal.peek(1)[0]
    assert first == rec(0), "every field survives"
    assert drain(journal) == list(range(50))
    assert journal.is_empty
    assert list(tmp_path.glob("*.journal")) == [], "sent segments are deleted"


def test_prepend_goes_before_everything(tmp_path: Path) -> None:
    journal = make(tmp_path)
    journal.append([rec(i) for i in range(10, 20)])
    journal.prepend([rec(i) for i in range(5, 10)])
    journal.prepend([rec(i) for i in range(5)])
    journal.append([rec(i) for i in range(20, 25)])
    assert drain(journal) == list(range(25))


def test_prepend_while_a_segment_is_half_sent(tmp_path: Path) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.append([rec(i) for i in range(10)])
    batch = journal.peek(4)
    journal.consume(len(batch))
    journal.prepend([rec(3)])  # e.g. record 3 failed in flight and goes back in front
    assert drain(journal) == [3, *range(4, 10)]


def test_disk_budget_limits_what_is_written(tmp_path: Path) -> None:
    one = len(rec(0).encode())
    journal = make(tmp_path, max_bytes=one * 5 + 1, segment_bytes=1 << 20)
    assert journal.append([rec(i) for i in range(8)]) == 5
    assert journal.prepend([rec(100)]) == 0
    assert journal.size_bytes <= one * 5 + 1
    assert drain(journal) == list(range(5))


def test_a_torn_last_record_is_skipped_not_fatal(tmp_path: Path) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.append([rec(i) for i in range(6)])
    journal.close()
    segment = next(tmp_path.glob("*.journal"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # a crash in the middle of the last write
    reopened = make(tmp_path)
    assert drain(reopened) == list(range(5))
    assert reopened.skipped_records == 1


def test_a_corrupt_record_in_the_middle_is_skipped(tmp_path: Path) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.append([rec(i) for i in range(3)])
    journal.close()
    segment = next(tmp_path.glob("*.journal"))
    data = bytearray(segment.read_bytes())
    one = len(rec(0).encode())
    data[one + 12] ^= 0xFF  # flip a byte inside the second record's body
    segment.write_bytes(bytes(data))
    records, skipped = read_segment(segment)
    assert [int(r.value) for r in records] == [0, 2]
    assert skipped == 1


def test_a_new_process_resumes_where_the_last_one_stopped(tmp_path: Path) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.append([rec(i) for i in range(10)])
    journal.consume(len(journal.peek(4)))
    # the process dies here; a new one opens the same folder
    assert drain(make(tmp_path)) == list(range(4, 10)), "the saved position avoids resending"


def test_files_are_private_to_the_owner(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    journal = make(folder)
    journal.append([rec(1)])
    journal.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_settling_the_front_keeps_the_unsent_records_in_front(tmp_path: Path) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.append([rec(i) for i in range(5, 8)])
    journal.prepend([rec(i) for i in range(5)])
    journal.settle_front(journal.first_segment, 5, [rec(1), rec(3)])  # 0, 2 and 4 were sent
    assert drain(journal) == [1, 3, 5, 6, 7]


def test_settling_part_of_a_segment_resumes_after_it(tmp_path: Path) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.prepend([rec(i) for i in range(8)])
    journal.settle_front(journal.first_segment, 3, [])
    assert drain(make(tmp_path)) == list(range(3, 8)), "a new process starts after the settled part"


def test_a_crash_while_settling_repeats_records_and_loses_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.append([rec(i) for i in range(6)])
    journal.peek(4)
    segment = journal.reading_segment

    def crash(self: Journal, count: int) -> None:
        raise KeyboardInterrupt  # the process dies after the unsent records are written

    monkeypatch.setattr(Journal, "consume", crash)
    with pytest.raises(KeyboardInterrupt):
        journal.settle_front(segment, 4, [rec(2)])
    monkeypatch.undo()
    assert drain(make(tmp_path)) == [2, 0, 1, 2, 3, 4, 5], "record 2 twice, nothing lost"


def test_settling_a_segment_no_longer_first_changes_nothing(tmp_path: Path) -> None:
    journal = make(tmp_path, segment_bytes=1 << 20)
    journal.append([rec(i) for i in range(5, 8)])
    journal.peek(2)
    segment = journal.reading_segment
    journal.prepend([rec(i) for i in range(5)])  # in front of what was read
    journal.settle_front(segment, 2, [])
    assert drain(journal) == list(range(8)), "nothing is marked sent: at worst sent again"
