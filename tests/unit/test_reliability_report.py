"""The reliability suite's bookkeeping: the stream audit by session + seq, the verdict, the tables."""

from __future__ import annotations

from datetime import UTC, datetime

from reliability.audit import Seen, audit, seen_of
from reliability.report import ScenarioResult, Verdict, exit_code, markdown, row


def seen(session: str, seqs: list[int], topic: str = "t", partition: int = 0) -> list[Seen]:
    return [Seen(topic, partition, offset, session, seq) for offset, seq in enumerate(seqs)]


def test_a_complete_stream_in_order_is_clean() -> None:
    found = audit(seen("a", [1, 2, 3]) + seen("b", [1, 2], partition=1), {"a": 3, "b": 2})
    assert (found.produced, found.delivered, found.missing, found.duplicated, found.out_of_order) == (
        5,
        5,
        0,
        0,
        0,
    )


def test_gaps_duplicates_and_reordering_are_counted() -> None:
    found = audit(seen("a", [1, 3, 3, 2, 5]), {"a": 5})
    assert found.missing == 1  # seq 4
    assert found.duplicated == 1  # seq 3 twice
    assert found.out_of_order == 1  # 2 after 3 in the same partition
    assert found.delivered == 4
    assert found.examples


def test_order_is_per_topic_partition_and_a_seq_beyond_n_is_a_duplicate() -> None:
    records = seen("a", [2, 3], topic="x") + seen("a", [1], topic="y") + seen("a", [4], topic="y")
    found = audit([*records, Seen("y", 0, 9, "a", 7)], {"a": 4})
    assert found.out_of_order == 0, "seq 1 in another topic after seq 3 is not out of order"
    assert found.missing == 0
    assert found.unexpected == 1
    assert found.duplicated == 1


def test_sessions_not_expected_are_ignored() -> None:
    assert audit(seen("other", [1, 1]), {"a": 1}).missing == 1
    assert audit(seen("other", [1, 1]), {"a": 1}).duplicated == 0


def test_seen_of_reads_session_and_seq_and_skips_junk() -> None:
    assert seen_of("t", 0, 5, b"k", b'{"session_id": "s", "seq": 4}') == Seen("t", 0, 5, "s", 4)
    assert seen_of("t", 0, 5, b"k", b"\xff not json") is None
    assert seen_of("t", 0, 5, b"k", b'{"session_id": 3, "seq": "x"}') is None
    assert seen_of("t", 0, 5, None, None) is None


def test_verdict() -> None:
    assert ScenarioResult("clean", produced=10, delivered=10).verdict is Verdict.PASS
    assert ScenarioResult("lost", lost=1).verdict is Verdict.FAIL
    assert ScenarioResult("twice", duplicated=1).verdict is Verdict.FAIL
    assert ScenarioResult("reordered", out_of_order=1).verdict is Verdict.FAIL
    assert ScenarioResult("broken", error="boom").verdict is Verdict.FAIL
    assert ScenarioResult("skipped", not_run_reason="no archival").verdict is Verdict.NOT_RUN
    counted = ScenarioResult("disk full", dropped_counted=50)
    assert counted.verdict is Verdict.PASS, "counted drops are not losses"
    failing = ScenarioResult("check")
    failing.check("archive exactly once", False, "3 twice")
    assert failing.verdict is Verdict.FAIL


def test_exit_code_is_one_only_when_a_scenario_failed() -> None:
    assert exit_code([ScenarioResult("a"), ScenarioResult("b", not_run_reason="x")]) == 0
    assert exit_code([ScenarioResult("a"), ScenarioResult("b", duplicated=2)]) == 1


def test_tables() -> None:
    result = ScenarioResult(
        "2. Kafka outage", load="200 sessions", faults="broker | stopped", produced=1234, delivered=1234
    )
    result.largest_stall_ms = 12.4
    result.check("spilled", True, "50 spilled")
    cells = row(result)
    assert cells[3:5] == ["1,234", "1,234"]
    assert cells[-2:] == ["12 ms", "PASS"]
    page = markdown(
        [result, ScenarioResult("5. Consumers", not_run_reason="no archival")],
        when=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        parameters={"sessions": 200},
        cores=2,
        command="python -m reliability",
    )
    assert "| 2. Kafka outage | 200 sessions | broker \\| stopped | 1,234 |" in page
    assert "NOT RUN: no archival" in page
    assert "2026-01-02" in page
    assert "2 cores" in page
    assert "`sessions=200`" in page
    assert "ok: spilled (50 spilled)" in page
    result.no_publisher_stall_ms = 9.6
    assert row(result)[-2] == "12 ms (10 ms without publisher)"
