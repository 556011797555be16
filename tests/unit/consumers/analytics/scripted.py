"""Scripted sessions for the analytics tests: typed events with hand-picked times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import REGISTRY, Event

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def event(
    type_name: str,
    data: dict[str, Any],
    *,
    session_id: str,
    seq: int,
    time: datetime,
    agent_name: str | None = "support",
) -> Event:
    """One validated event of the current version of ``type_name``."""
    spec = REGISTRY.spec(type_name).current
    return spec.event_class.model_validate(
        {
            "specversion": "1.0",
            "id": f"{session_id}-{seq}",
            "type": type_name,
            "source": "test",
            "time": time,
            "schema_version": str(spec.version),
            "session_id": session_id,
            "agent_name": agent_name,
            "seq": seq,
            "data": data,
        }
    )


class Script:
    """Builds one session's events with consecutive ``seq`` numbers; times are seconds after ``start``."""

    def __init__(
        self, session_id: str = "s1", *, agent: str | None = "support", start: datetime = T0
    ) -> None:
        self.session_id = session_id
        self.agent = agent
        self.start = start
        self.events: list[Event] = []

    def add(self, t: float, type_name: str, **data: Any) -> Script:
        self.events.append(
            event(
                type_name,
                data,
                session_id=self.session_id,
                seq=len(self.events) + 1,
                time=self.start + timedelta(seconds=t),
                agent_name=self.agent,
            )
        )
        return self

    def started(self, t: float = 0.0) -> Script:
        return self.add(t, "lkbus.session.started", agent_name=self.agent or "unknown")

    def user(self, t: float, old: str, new: str) -> Script:
        return self.add(t, "livekit.agent.user_state_changed", old_state=old, new_state=new)

    def agent_state(self, t: float, old: str, new: str) -> Script:
        return self.add(t, "livekit.agent.agent_state_changed", old_state=old, new_state=new)

    def message(self, t: float, role: str, *, interrupted: bool = False) -> Script:
        item = {
            "type": "message",
            "id": f"item{len(self.events)}",
            "role": role,
            "content": [{"type": "text", "text": None}],
            "interrupted": interrupted,
            "created_at": 0.0,
        }
        return self.add(t, "livekit.agent.conversation_item_added", item=item)

    def metrics(self, t: float, **metrics: Any) -> Script:
        return self.add(t, "livekit.agent.metrics_collected", metrics=metrics)

    def eou(self, t: float, eou: float, transcription: float) -> Script:
        return self.metrics(
            t,
            type="eou_metrics",
            timestamp=0.0,
            end_of_utterance_delay=eou,
            transcription_delay=transcription,
            on_user_turn_completed_delay=0.0,
        )

    def llm(self, t: float, ttft: float, *, prompt: int = 10, completion: int = 5) -> Script:
        return self.metrics(
            t,
            type="llm_metrics",
            label="fake",
            request_id="r",
            timestamp=0.0,
            duration=1.0,
            ttft=ttft,
            cancelled=False,
            completion_tokens=completion,
            prompt_tokens=prompt,
            prompt_cached_tokens=0,
            total_tokens=prompt + completion,
            tokens_per_second=1.0,
            metadata={"model_name": "gpt", "model_provider": "openai"},
        )

    def tts(self, t: float, ttfb: float, *, characters: int = 12, audio: float = 1.5) -> Script:
        return self.metrics(
            t,
            type="tts_metrics",
            label="fake",
            request_id="r",
            timestamp=0.0,
            ttfb=ttfb,
            duration=1.0,
            audio_duration=audio,
            cancelled=False,
            characters_count=characters,
            streamed=True,
            metadata={"model_name": "sonic", "model_provider": "cartesia"},
        )

    def tools(self, t: float, *calls: tuple[str, bool]) -> Script:
        """``calls``: (tool name, is_error) pairs."""
        return self.add(
            t,
            "livekit.agent.function_tools_executed",
            function_calls=[
                {"id": f"f{i}", "call_id": f"c{i}", "name": name, "arguments": "{}", "created_at": 0.0}
                for i, (name, _) in enumerate(calls)
            ],
            function_call_outputs=[
                {
                    "id": f"o{i}",
                    "call_id": f"c{i}",
                    "name": name,
                    "output": "",
                    "is_error": err,
                    "created_at": 0.0,
                }
                for i, (name, err) in enumerate(calls)
            ],
        )

    def command(self, t: float, kind: str = "prompt_user", *, rejected: str | None = None) -> Script:
        if rejected is None:
            return self.add(t, "lkbus.command.executed", command_id=f"cmd{t}", command_type=kind)
        return self.add(t, "lkbus.command.rejected", command_id=f"cmd{t}", command_type=kind, reason=rejected)

    def close(self, t: float, reason: str = "user_initiated") -> Script:
        return self.add(t, "livekit.agent.close", reason=reason)

    def ended(self, t: float, reason: str = "user_initiated") -> Script:
        return self.add(t, "lkbus.session.ended", reason=reason, last_seq=len(self.events) + 1)


def conversation(session_id: str = "s1", *, agent: str | None = "support", start: datetime = T0) -> Script:
    """A 60 s session: three user turns, a tool error, two away episodes and prompts, a close.

    The expected summary is worked out by hand in ``test_summary.py``.
    """
    s = Script(session_id, agent=agent, start=start)
    s.started(0.0)  # 1
    s.agent_state(0.5, "initializing", "listening")  # 2
    s.user(2.0, "listening", "speaking")  # 3
    s.user(4.0, "speaking", "listening")  # 4  user stopped at 4.0
    s.eou(4.2, 0.3, 0.1)  # 5
    s.message(4.3, "user")  # 6
    s.agent_state(4.3, "listening", "thinking")  # 7
    s.llm(4.8, 0.4)  # 8
    s.tts(5.0, 0.2)  # 9
    s.agent_state(5.0, "thinking", "speaking")  # 10 response 1.0
    s.agent_state(8.0, "speaking", "listening")  # 11
    s.message(8.0, "assistant")  # 12
    s.user(10.0, "listening", "speaking")  # 13
    s.user(11.0, "speaking", "listening")  # 14 user stopped at 11.0
    s.eou(11.1, 0.5, 0.2)  # 15
    s.tools(11.5, ("lookup_weather", False), ("broken_tool", True))  # 16
    s.agent_state(12.5, "listening", "speaking")  # 17 response 1.5
    s.message(13.0, "assistant", interrupted=True)  # 18
    s.add(13.0, "livekit.agent.agent_false_interruption", resumed=True)  # 19
    s.agent_state(13.5, "speaking", "listening")  # 20
    s.user(28.5, "listening", "away")  # 21 away 1
    s.command(29.0)  # 22 prompt 1
    s.agent_state(29.5, "listening", "speaking")  # 23 no response latency: the user did not speak
    s.agent_state(32.0, "speaking", "listening")  # 24
    s.user(35.0, "away", "speaking")  # 25 prompt 1: the user came back
    s.user(36.0, "speaking", "listening")  # 26 user stopped at 36.0
    s.add(
        36.5,
        "livekit.agent.error",
        error={"type": "llm_error", "recoverable": True},
        source={"kind": "llm", "class_name": "FakeLLM", "provider": "openai"},
    )  # 27
    s.agent_state(37.0, "listening", "speaking")  # 28 response 1.0
    s.agent_state(39.0, "speaking", "listening")  # 29
    s.user(45.0, "listening", "away")  # 30 away 2
    s.command(46.0)  # 31 prompt 2: closed without a return
    s.command(47.0, rejected="expired")  # 32
    s.add(
        50.0,
        "livekit.agent.session_usage_updated",
        usage={
            "model_usage": [
                {
                    "type": "llm_usage",
                    "provider": "openai",
                    "model": "gpt",
                    "input_tokens": 100,
                    "output_tokens": 20,
                },
                {
                    "type": "tts_usage",
                    "provider": "cartesia",
                    "model": "sonic",
                    "characters_count": 120,
                    "audio_duration": 6.5,
                },
                {"type": "stt_usage", "provider": "deepgram", "model": "nova", "audio_duration": 30.0},
            ]
        },
    )  # 33
    s.close(60.0)  # 34
    s.ended(60.1)  # 35
    return s
