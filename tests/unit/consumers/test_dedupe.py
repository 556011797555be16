"""Idempotence helpers: duplicates dropped by event id and by session + seq."""

from __future__ import annotations

import time

from consumers.runtime import SeenIds, SessionSeqs
from schemas import Event, SessionContext, decode, encode_event


def event(session: str, seq: int) -> Event:
    ctx = SessionContext(session_id=session, agent_name="a", source="test")
    record = encode_event("lkbus.session.ended", {"reason": "done", "last_seq": seq}, ctx, seq, time.time())
    return decode(record.value, record.headers)


def test_seen_ids_drop_repeats_and_forget_the_oldest() -> None:
    seen = SeenIds(capacity=2)
    assert seen.add("a")
    assert not seen.add("a")
    assert seen.add("b")
    assert seen.add("c")  # "a" falls out
    assert seen.add("a")


def test_session_seqs_drop_duplicates_in_any_order() -> None:
    seqs = SessionSeqs()
    order = [1, 3, 2, 3, 1, 5]
    assert [seqs.add(event("s", n)) for n in order] == [True, True, True, False, False, True]
    assert seqs.missing("s") == 1, "seq 4 is still missing"
    assert seqs.add(event("other", 1)), "sessions are apart"
    seqs.forget("s")
    assert seqs.add(event("s", 1))
