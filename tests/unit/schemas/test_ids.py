"""UUIDv7 ids: unique and sorted within a millisecond, across counter overflow and clock steps."""

from __future__ import annotations

import uuid

import pytest

from schemas import ids


def test_a_frozen_clock_still_gives_unique_sorted_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_time_ns", lambda: 1_764_000_000_000_000_000)
    made = [ids.uuid7() for _ in range(3 * (ids._RAND_A_MAX + 1))]  # overflows the 12-bit counter
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    parsed = [uuid.UUID(i) for i in made]
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert int(made[0][:8] + made[0][9:13], 16) >= 1_764_000_000_000


def test_a_clock_stepping_back_keeps_ids_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_764_000_000_005_000_000]
    monkeypatch.setattr(ids, "_time_ns", lambda: now[0])
    first = [ids.uuid7() for _ in range(5)]
    now[0] -= 3_000_000
    after = [ids.uuid7() for _ in range(5)]
    assert first + after == sorted(first + after)
    assert len(set(first + after)) == 10


def test_two_processes_in_one_millisecond_differ_by_rand_b(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_time_ns", lambda: 1_764_000_000_000_000_000)
    monkeypatch.setattr(ids, "_last_ms", 0)
    a = ids.uuid7()
    monkeypatch.setattr(ids, "_last_ms", 0)  # as if a second process started this millisecond
    b = ids.uuid7()
    assert a[:14] == b[:14]
    assert a[19:] != b[19:]
