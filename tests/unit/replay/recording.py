"""Build recorded sessions as records and events, without Kafka (shared by the replay tests)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lkbus.replay import Record
from schemas import EncodedRecord, Event, SessionContext, TopicFamily, decode, encode_event

T0 = 1_714_564_800.0
"""2024-05-01T12:00:00Z"""

TOPICS = {
    TopicFamily.SESSION: "lk.session.events",
    TopicFamily.USER_STATE: "lk.user.state",
    TopicFamily.ROOM: "lk.room.events",
}


def ctx(
    session: str, *, agent: str = "weather-agent", room: str = "room-1", who: str = "alice"
) -> SessionContext:
    return SessionContext(
        session_id=session, agent_name=agent, source="tests", room_name=room, participant_identity=who
    )


def conversation(context: SessionContext, start: float, *, step: float = 0.25) -> list[EncodedRecord]:
    """A short session: started, state changes, a transcript, a tool, a command outcome, close, ended."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("lkbus.session.started", {"agent_name": context.agent_name}),
        ("livekit.agent.agent_state_changed", {"old_state": "initializing", "new_state": "listening"}),
        ("livekit.agent.user_state_changed", {"old_state": "listening", "new_state": "speaking"}),
        ("livekit.agent.user_input_transcribed", {"transcript": "what is the weather", "is_final": True}),
        ("livekit.agent.agent_state_changed", {"old_state": "listening", "new_state": "thinking"}),
        (
            "livekit.agent.function_tools_executed",
            {
                "function_calls": [
                    {
                        "id": "c1",
                        "call_id": "k1",
                        "name": "lookup_weather",
                        "arguments": "{}",
                        "created_at": start,
                    }
                ],
                "function_call_outputs": [
                    {
                        "id": "o1",
                        "call_id": "k1",
                        "name": "lookup_weather",
                        "output": "sunny",
                        "is_error": False,
                        "created_at": start,
                    }
                ],
            },
        ),
        ("livekit.agent.agent_state_changed", {"old_state": "thinking", "new_state": "speaking"}),
        ("livekit.agent.user_state_changed", {"old_state": "listening", "new_state": "away"}),
        (
            "lkbus.command.executed",
            {"command_id": "cmd-1", "command_type": "prompt_user", "speech_id": "sp1"},
        ),
        ("livekit.agent.close", {"reason": "participant_disconnected"}),
    ]
    records = [
        encode_event(type_name, data, context, seq, start + step * (seq - 1))
        for seq, (type_name, data) in enumerate(steps, start=1)
    ]
    n = len(records) + 1
    counts: dict[str, int] = {}
    for r in records:
        counts[r.type] = counts.get(r.type, 0) + 1
    ended = {"reason": "closed", "last_seq": n, "duration": step * (n - 1), "event_counts": counts}
    records.append(encode_event("lkbus.session.ended", ended, context, n, start + step * (n - 1)))
    return records


@dataclass
class Recording:
    """Records laid out on topics and partitions as the producer would (by family, by key)."""

    partitions: int = 3
    by_partition: dict[tuple[str, int], list[Record]] = field(default_factory=dict)

    def add(self, records: Iterable[EncodedRecord]) -> None:
        for r in records:
            topic = TOPICS[r.family]
            tp = (topic, _partition(r.key, self.partitions))
            log = self.by_partition.setdefault(tp, [])
            log.append(Record(topic, tp[1], len(log), int(r.time * 1000), r.key, r.value, tuple(r.headers)))

    def add_raw(
        self, topic: str, partition: int, value: bytes | None, *, timestamp: int, key: bytes | None = None
    ) -> Record:
        log = self.by_partition.setdefault((topic, partition), [])
        record = Record(topic, partition, len(log), timestamp, key, value, ())
        log.append(record)
        return record

    def full(self) -> dict[tuple[str, int], list[Record]]:
        """Every partition of every topic, empty ones included."""
        return {
            (topic, p): list(self.by_partition.get((topic, p), []))
            for topic in TOPICS.values()
            for p in range(self.partitions)
        }


def _partition(key: bytes, partitions: int) -> int:
    return sum(key) % partitions


def events_of(records: Iterable[EncodedRecord]) -> list[Event]:
    return [decode(r.value, r.headers) for r in records]
