"""Read the event topics back and count what was lost, duplicated or reordered, by session + seq."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from lkbus.settings import KafkaSettings, TopicSettings
from lkbus.topic_reader import read_topics


class Seen(NamedTuple):
    """One event record found in Kafka: where, and which session and seq it carries."""

    topic: str
    partition: int
    offset: int
    session: str
    seq: int


@dataclass(slots=True)
class StreamAudit:
    """The event stream of the expected sessions, as found in Kafka."""

    produced: int = 0
    delivered: int = 0
    missing: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    """Records of an expected session with a seq above what it produced (counted as duplicates too)."""
    examples: list[str] = field(default_factory=list)


def audit(seen: Iterable[Seen], expected: Mapping[str, int]) -> StreamAudit:
    """Compare the records found with seq 1..N of every expected session (N = expected[session]).

    Out of order: within one topic partition, a record of a session whose seq is lower than the
    largest seq of that session before it (in offset order).
    """
    result = StreamAudit(produced=sum(expected.values()))
    counts: Counter[tuple[str, int]] = Counter()
    ordered = sorted(
        (s for s in seen if s.session in expected), key=lambda s: (s.topic, s.partition, s.offset)
    )
    highest: dict[tuple[str, int, str], int] = {}
    for record in ordered:
        counts[(record.session, record.seq)] += 1
        lane = (record.topic, record.partition, record.session)
        before = highest.get(lane, 0)
        if record.seq < before:
            result.out_of_order += 1
            if len(result.examples) < 5:
                result.examples.append(f"{record.session}: seq {record.seq} after {before} in {lane[0]}")
        highest[lane] = max(before, record.seq)
    for (session, seq), count in counts.items():
        if 1 <= seq <= expected[session]:
            result.delivered += 1
            result.duplicated += count - 1
        else:
            result.unexpected += count
            result.duplicated += count
    for session, last in expected.items():
        got = sum(1 for seq in range(1, last + 1) if (session, seq) in counts)
        result.missing += last - got
        if got < last and len(result.examples) < 5:
            result.examples.append(f"{session}: {last - got} of {last} missing")
    return result


def seen_of(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
) -> Seen | None:
    """The session and seq of a record, or None when it is not an event envelope."""
    try:
        body = orjson.loads(value or b"")
        session, seq = body["session_id"], body["seq"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(session, str) or not isinstance(seq, int):
        return None
    return Seen(topic, partition, offset, session, seq)


async def read_stream(
    kafka: KafkaSettings, topics: TopicSettings, *, skip: set[tuple[str, int, int]] | None = None
) -> list[Seen]:
    """Every event record of the three event topics (records at `skip` coordinates left out)."""
    records = await read_topics(kafka, list(topics.event_topics), timeout_s=300)
    found = []
    for r in records:
        if skip and (r.topic, r.partition, r.offset) in skip:
            continue
        seen = seen_of(r.topic, r.partition, r.offset, r.key, r.value)
        if seen is not None:
            found.append(seen)
    return found
