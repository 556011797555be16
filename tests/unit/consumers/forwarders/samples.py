"""Decoded events and records for the forwarder tests."""

from __future__ import annotations

import time
from typing import Any

from consumers.runtime import Incoming
from schemas import Event, SessionContext, decode, encode_event


def context(session_id: str = "s-1", agent_name: str = "sales") -> SessionContext:
    return SessionContext(
        session_id=session_id,
        agent_name=agent_name,
        source="lkbus/test-worker",
        job_id="job-1",
        room_name="room-1",
        room_sid="RM_1",
        participant_identity="caller-7",
    )


def ended(seq: int = 3, reason: str = "done", **ctx: Any) -> Event:
    record = encode_event(
        "lkbus.session.ended",
        {"reason": reason, "last_seq": seq, "event_counts": {"x": 1}},
        context(**ctx),
        seq,
        1_700_000_000.25,
    )
    return decode(record.value, record.headers)


def started(seq: int = 1, **ctx: Any) -> Event:
    record = encode_event("lkbus.session.started", {"agent_name": "sales"}, context(**ctx), seq, time.time())
    return decode(record.value, record.headers)


def incoming(event: Event, offset: int = 0, partition: int = 0, topic: str = "lk.session.events") -> Incoming:
    value = event.model_dump_json().encode()
    return Incoming(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=0,
        key=event.session_id.encode(),
        value=value,
        headers=(("ce_id", event.id.encode()), ("ce_type", event.type.encode())),
        event=event,
    )
