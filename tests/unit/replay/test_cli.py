"""`lkbus replay` / `lkbus sessions` argument handling: one error line, exit 1, before any I/O."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from lkbus.replay import Beginning, End, EventFilter, FromEnd
from lkbus.replay.cli import app, build_options, parse_speed
from lkbus.replay.exceptions import ReplayOptionError
from tests.unit.replay.test_position import NOW

runner = CliRunner()


def options(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "start": None,
        "stop": None,
        "topics": None,
        "sessions_": None,
        "rooms": None,
        "agents": None,
        "types": None,
        "participants": None,
        "output": "timeline",
        "to_topic": None,
        "speed": None,
        "follow": False,
        "count": None,
        "archive": None,
        "now": NOW,
    }
    return base | overrides


@pytest.mark.parametrize(
    ("text", "speed"), [("1", 1.0), ("10x", 10.0), ("0.5x", 0.5), ("MAX", None), (" 2 ", 2.0)]
)
def test_speeds(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["", "0", "0x", "fast", "-1", "x10", "1e3"])
def test_bad_speeds(text: str) -> None:
    with pytest.raises(ReplayOptionError, match=r"is not a speed; use 1 .* or max"):
        parse_speed(text)


def test_build_options_defaults_and_filters() -> None:
    built = build_options(**options(sessions_=["s-1"], types=["*user_state*"], start="-100"))  # type: ignore[arg-type]
    assert built.start == FromEnd(100)
    assert built.stop is None
    assert built.filter == EventFilter(sessions=("s-1",), types=("*user_state*",))
    assert build_options(**options()).start == Beginning()  # type: ignore[arg-type]
    assert build_options(**options(follow=True)).start == End(), "follow tails from the end"  # type: ignore[arg-type]
    assert build_options(**options(to_topic="t", speed="max")).speed is None  # type: ignore[arg-type]


def test_speed_without_to_topic_is_an_error() -> None:
    with pytest.raises(ReplayOptionError, match="--speed paces re-publishing"):
        build_options(**options(speed="10x"))  # type: ignore[arg-type]


def test_redact_is_an_option_of_the_timeline() -> None:
    assert build_options(**options(redact=True)).redact  # type: ignore[arg-type]
    assert not build_options(**options()).redact  # type: ignore[arg-type]
    with pytest.raises(ReplayOptionError, match="JSON Lines and --to-topic copy the records as recorded"):
        build_options(**options(redact=True, output="jsonl"))  # type: ignore[arg-type]


def _one_error_line(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["replay", "--from", "yesterday"], "--from 'yesterday' is not a position"),
        (["replay", "--to", "12:00"], "a clock time needs a date"),
        (["replay", "--format", "xml"], "--format 'xml' is not a format"),
        (["replay", "--to-topic", "x", "--speed", "warp"], "--speed 'warp' is not a speed"),
        (["replay", "--follow", "--to", "end"], "--follow reads past the end"),
        (["replay", "--from", "-1h", "--to", "-2h"], "is after --to"),
        (["replay", "--redact", "--format", "jsonl"], "--redact hides text in the timeline only"),
        (["replay", "--redact", "--to-topic", "x"], "--redact hides text in the timeline only"),
        (["sessions", "--since", "last week"], "--since 'last week' is not a position"),
    ],
)
def test_bad_arguments_are_one_line(args: list[str], expected: str) -> None:
    _one_error_line(args, expected)


def test_archive_and_unreachable_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    _one_error_line(["replay", "--from-archive", "/nonexistent/archive"], "no archived records of")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LKBUS_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    _one_error_line(["replay"], f"cannot reach Kafka at 127.0.0.1:{port}")
    _one_error_line(["sessions"], f"cannot reach Kafka at 127.0.0.1:{port}")
