"""Records to archive in unit tests: valid events and garbage, as the runtime hands them over."""

from __future__ import annotations

from consumers.runtime.records import Checked, Incoming, Undecodable
from schemas import DecodeError, SessionContext, decode, encode_event

T0_MS = 1_777_777_200_000  # 2026-05-03T03:00:00Z, the start of an hour


def event(
    offset: int, *, partition: int = 0, topic: str = "t", ts_ms: int = T0_MS, session: str = "s1"
) -> Incoming:
    ctx = SessionContext(session_id=session, agent_name="agent", source="test")
    record = encode_event(
        "lkbus.session.ended",
        {"reason": "done", "last_seq": offset + 1, "event_counts": {}},
        ctx,
        offset + 1,
        ts_ms / 1000,
    )
    headers = tuple(record.headers)
    return Incoming(
        topic, partition, offset, ts_ms, record.key, record.value, headers, decode(record.value, headers)
    )


def checked(record: Incoming) -> Checked:
    """The same valid event as consumers that need no events get it (checked, not decoded)."""
    return Checked(*record[:-1])


def garbage(
    offset: int,
    *,
    partition: int = 0,
    topic: str = "t",
    ts_ms: int = T0_MS,
    value: bytes = b"\xff\xfe\x00 junk",
) -> Undecodable:
    try:
        decode(value, None)
    except DecodeError as exc:
        error = exc
    else:  # pragma: no cover - the value is chosen to fail
        raise AssertionError("expected a decode error")
    return Undecodable(topic, partition, offset, ts_ms, b"\x80key", value, (("h", b"\x01\xff"),), error)
