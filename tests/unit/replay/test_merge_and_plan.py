"""The timestamp merge and the offset arithmetic behind --from / --to (no Kafka)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from lkbus.replay import AtTime, Beginning, End, FromEnd, Offset, PartitionOffsets, ReadRequest, Record
from lkbus.replay.exceptions import ReplayOptionError
from lkbus.replay.merge import TimestampMerger, order_key
from lkbus.replay.source import SourceRecord, resolve_offset, select_partitions
from tests.unit.replay.test_position import NOW

A, B = ("t", 0), ("t", 1)


def rec(tp: tuple[str, int], offset: int, ts: int, headers: tuple[tuple[str, bytes], ...] = ()) -> Record:
    return Record(tp[0], tp[1], offset, ts, b"k", b"v", headers)


def ids(records: Sequence[SourceRecord]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in records]


def test_merge_waits_for_every_partition_with_records_due() -> None:
    merger = TimestampMerger({A: (0, 3), B: (0, 2)}, bounded=True)
    merger.add(A, [rec(A, 0, 10), rec(A, 1, 30), rec(A, 2, 50)])
    assert merger.pop_ready() == [], "B may still hold an earlier record"
    merger.add(B, [rec(B, 0, 20)])
    assert ids(merger.pop_ready()) == [(0, 0), (1, 0)], "stops when B's buffer runs dry"
    merger.add(B, [rec(B, 1, 40)])
    assert ids(merger.pop_ready()) == [(0, 1), (1, 1), (0, 2)]
    assert merger.finished


def test_merge_keeps_partition_order_even_when_timestamps_go_back() -> None:
    merger = TimestampMerger({A: (0, 3), B: (0, 1)}, bounded=True)
    merger.add(A, [rec(A, 0, 10), rec(A, 1, 5), rec(A, 2, 7)])
    merger.add(B, [rec(B, 0, 6)])
    assert ids(merger.pop_ready()) == [(1, 0), (0, 0), (0, 1), (0, 2)], "A's 5 and 7 stay after its 10"
    merger = TimestampMerger({A: (0, 3), B: (0, 1)}, bounded=True)
    merger.add(A, [rec(A, 0, 10)])
    merger.add(A, [rec(A, 1, 5), rec(A, 2, 7)])
    merger.add(B, [rec(B, 0, 6)])
    assert ids(merger.pop_ready()) == [(1, 0), (0, 0), (0, 1), (0, 2)], "also when fetched apart"


def test_bounded_merge_drops_records_past_the_stop_and_skips_gaps() -> None:
    merger = TimestampMerger({A: (0, 2), B: (5, 9)}, bounded=True)
    merger.add(A, [rec(A, 0, 1), rec(A, 1, 2), rec(A, 2, 3)])
    merger.add(B, [rec(B, 5, 1)])
    assert ids(merger.pop_ready()) == [(0, 0), (1, 5)]
    assert B in merger.starving
    merger.advance(B, 9)  # compacted away or control records: nothing more below 9
    assert ids(merger.pop_ready()) == [(0, 1)]
    assert merger.finished
    assert merger.done(A)
    assert merger.done(B)


def test_records_keep_rules_out_are_skipped_and_never_hold_the_merge() -> None:
    wanted = (("ce_type", b"wanted"),)
    merger = TimestampMerger(
        {A: (0, 3), B: (0, 2)}, bounded=True, keep=lambda _key, headers: headers == wanted
    )
    merger.add(A, [rec(A, 0, 10, wanted), rec(A, 1, 20), rec(A, 2, 30, wanted)])
    merger.add(B, [rec(B, 0, 5), rec(B, 1, 6)])
    assert B not in merger.starving, "B's skipped records count as read"
    assert ids(merger.pop_ready()) == [(0, 0), (0, 2)]
    assert merger.skipped == 3
    assert merger.finished


def test_following_does_not_wait_for_caught_up_partitions() -> None:
    merger = TimestampMerger({A: (0, 1), B: (0, 0)}, bounded=False)
    assert merger.starving == {A}
    merger.add(A, [rec(A, 0, 10)])
    assert ids(merger.pop_ready()) == [(0, 0)]
    merger.add(B, [rec(B, 0, 99)])
    assert ids(merger.pop_ready()) == [(1, 0)], "live records flow without waiting for A"
    merger.set_limit(A, 3)
    assert merger.starving == {A}, "A has new records due: wait for them"
    assert not merger.finished


def test_across_topics_ties_on_the_millisecond_use_the_ce_time_microseconds() -> None:
    session, users = ("session", 0), ("user_state", 0)
    early = rec(users, 0, 1000, (("ce_time", b"1970-01-01T00:00:01.000100Z"),))
    late = rec(session, 0, 1000, (("ce_time", b"1970-01-01T00:00:01.000900Z"),))
    assert order_key(early) == 1_000_100
    assert order_key(late) == 1_000_900
    assert order_key(rec(A, 0, 1000, (("ce_time", b"garbage"),))) == 1_000_000
    assert order_key(rec(A, 0, 1000, (("ce_time", b"1970-01-01T00:00:01.500100Z"),))) == 1_000_000
    merger = TimestampMerger({session: (0, 1), users: (0, 1)}, bounded=True)
    merger.add(session, [late])
    merger.add(users, [early])
    assert [r.topic for r in merger.pop_ready()] == ["user_state", "session"]


def test_merge_releases_in_timestamp_order_across_many_batches() -> None:
    parts = [("t", p) for p in range(4)]
    stamps = {tp: sorted((tp[1] * 7 + 13 * i) % 50 for i in range(30)) for tp in parts}
    merger = TimestampMerger(dict.fromkeys(parts, (0, 30)), bounded=True)
    out: list[SourceRecord] = []
    for first in range(0, 30, 4):
        for tp in reversed(parts):
            merger.add(tp, [rec(tp, o, stamps[tp][o]) for o in range(first, min(first + 4, 30))])
        out.extend(merger.pop_ready())
    assert merger.finished
    assert sorted(ids(out)) == sorted((tp[1], o) for tp in parts for o in range(30)), "each record once"
    assert [r.timestamp for r in out] == sorted(r.timestamp for r in out)
    for tp in parts:
        assert [r.offset for r in out if r.partition == tp[1]] == list(range(30))


@pytest.mark.parametrize(
    ("position", "role", "at_time", "expected"),
    [
        (Beginning(), "start", None, 10),
        (End(), "stop", None, 50),
        (Offset(20), "start", None, 20),
        (Offset(5), "start", None, 10),
        (Offset(500), "stop", None, 50),
        (FromEnd(15), "start", None, 35),
        (FromEnd(100), "start", None, 10),
        (PartitionOffsets(((0, 30),)), "start", None, 30),
        (PartitionOffsets(((1, 30),)), "start", None, 10),
        (PartitionOffsets(((1, 30),)), "stop", None, 50),
        (AtTime(NOW), "start", 42, 42),
        (AtTime(NOW), "start", None, 50),
        (AtTime(NOW), "stop", None, 50),
    ],
)
def test_resolve_offset(position: object, role: str, at_time: int | None, expected: int) -> None:
    got = resolve_offset(position, partition=0, first=10, end=50, at_time=at_time, role=role)  # type: ignore[arg-type]
    assert got == expected


def test_partition_offsets_select_partitions() -> None:
    counts = {"a": 3, "b": 2}
    everything = select_partitions(ReadRequest(("a", "b")), counts)
    assert everything == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    only = select_partitions(ReadRequest(("a", "b"), PartitionOffsets(((1, 5),))), counts)
    assert only == [("a", 1), ("b", 1)]
    both = ReadRequest(("a",), PartitionOffsets(((0, 5), (1, 5))), PartitionOffsets(((1, 9),)))
    assert select_partitions(both, counts) == [("a", 1)]


def test_bad_partitions_are_one_clear_error() -> None:
    with pytest.raises(ReplayOptionError, match=r"--from 2:0: topic b has no partition 2 \(it has 2: 0..1\)"):
        select_partitions(ReadRequest(("a", "b"), PartitionOffsets(((2, 0),))), {"a": 3, "b": 2})
    disjoint = ReadRequest(("a",), PartitionOffsets(((0, 1),)), PartitionOffsets(((1, 1),)))
    with pytest.raises(ReplayOptionError, match="name different partitions"):
        select_partitions(disjoint, {"a": 3})
