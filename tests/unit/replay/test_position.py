"""`parse_position`: every accepted form, and garbage → one error naming the accepted forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lkbus.replay import (
    AtTime,
    Beginning,
    End,
    FromEnd,
    Offset,
    PartitionOffsets,
    Position,
    PositionError,
    parse_position,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(year: int = 0, month: int = 1, day: int = 1, hour: int = 0, **ago: float) -> AtTime:
    """An ISO date and hour (UTC), or a time `ago` before NOW."""
    base = datetime(year, month, day, hour, tzinfo=UTC) if year else NOW
    return AtTime(base - timedelta(**ago))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("beginning", Beginning()),
        ("BEGINNING", Beginning()),
        ("earliest", Beginning()),
        ("start", Beginning()),
        ("end", End()),
        ("latest", End()),
        (" end ", End()),
        ("now", AtTime(NOW)),
        ("0", Offset(0)),
        ("1234", Offset(1234)),
        ("-100", FromEnd(100)),
        ("-0", FromEnd(0)),
        ("2:1234", PartitionOffsets(((2, 1234),))),
        ("5:99,0:1", PartitionOffsets(((0, 1), (5, 99)))),
        ("0:0, 1:10", PartitionOffsets(((0, 0), (1, 10)))),
        ("2024-05-01T12:00:00Z", at(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00+02:00", at(2024, 5, 1, 10)),
        ("2024-05-01T12:00:00.250Z", AtTime(datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC))),
        ("2024-05-01 12:00", at(2024, 5, 1, 12)),
        ("2024-05-01T12:00", at(2024, 5, 1, 12)),
        ("2024-05-01", at(2024, 5, 1)),
        ("@1714564800000", at(2024, 5, 1, 12)),
        ("s@1714564800000", at(2024, 5, 1, 12)),
        ("e@1714564800500", AtTime(datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC))),
        ("-15m", at(minutes=15)),
        ("-2h", at(hours=2)),
        ("-1d", at(days=1)),
        ("-1w", at(weeks=1)),
        ("-30s", at(seconds=30)),
        ("-500ms", at(milliseconds=500)),
        ("-1h30m", at(hours=1, minutes=30)),
        ("-1.5h", at(hours=1.5)),
        ("-2H", at(hours=2)),
    ],
)
def test_accepted_forms(text: str, expected: Position) -> None:
    assert parse_position(text, now=NOW) == expected


def test_now_is_converted_to_utc() -> None:
    paris = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    parsed = parse_position("-1h", now=paris)
    assert parsed == AtTime(datetime(2024, 5, 1, 11, 0, tzinfo=UTC))
    assert isinstance(parsed, AtTime)
    assert parsed.time.tzinfo is UTC


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_position("end", now=datetime(2024, 5, 1))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "yesterday",
        "begining",
        "15m",
        "+15m",
        "-15x",
        "-m",
        "--15m",
        "-0m",
        "-15m ago",
        "1:2:3",
        "a:1",
        "1:-5",
        "1:2,x",
        "0:1,0:2",
        "2024-13-01",
        "2024-05-01T25:00",
        "12:00",
        "09:30",
        "@",
        "@abc",
        "s@-5",
        "x@100",
        "@99999999999999999999",
        "-99999999999d",
        "99999999999999999999",
        "1e3",
        "0x10",
        "∞",
    ],
)
def test_garbage_is_one_clear_error(text: str) -> None:
    with pytest.raises(PositionError) as caught:
        parse_position(text, now=NOW, option="--to")
    message = str(caught.value)
    assert message.startswith(f"--to {text!r} is not a position")
    assert "\n" not in message
    for form in ("beginning", "end", "2:1234", "2024-05-01T12:00:00Z", "-15m", "-2h", "@1714564800000"):
        assert form in message


def test_errors_say_what_is_wrong_with_partition_lists() -> None:
    with pytest.raises(PositionError, match="partition 0 is named twice"):
        parse_position("0:1,0:2", now=NOW)
    with pytest.raises(PositionError, match="'x' is not partition:offset"):
        parse_position("1:2,x", now=NOW)
    with pytest.raises(PositionError, match="a clock time needs a date"):
        parse_position("12:00", now=NOW)


def test_positions_print_back_as_they_parse() -> None:
    for text in ("beginning", "end", "12", "-7", "0:1,3:4"):
        assert str(parse_position(text, now=NOW)) == text
    assert str(parse_position("2024-05-01T12:00:00Z", now=NOW)) == "2024-05-01T12:00:00.000Z"
    assert AtTime(NOW).epoch_ms == 1_714_564_800_000
