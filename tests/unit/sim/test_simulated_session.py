"""The simulation kit drives a real AgentSession offline; these tests check what the SDK emits."""

from __future__ import annotations

import asyncio
import json
import time
import typing
from collections.abc import Callable
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import AgentSession, llm
from livekit.agents.voice.events import CloseReason, EventTypes

from lkbus.sim import FakeLLM, FakeReply, TimedAudioOutput, simulated_session

pytestmark = pytest.mark.timeout(20)

EVENT_NAMES: tuple[str, ...] = typing.get_args(EventTypes)


class Recorder:
    """A plain `session.on(name, handler)` for every declared event name."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def attach(self, session: AgentSession[None]) -> None:
        for name in EVENT_NAMES:
            session.on(name, self._handler(name))  # type: ignore[arg-type]

    def _handler(self, name: str) -> Callable[[Any], None]:
        return lambda ev: self.events.append((name, ev))

    def of(self, name: str) -> list[Any]:
        return [ev for n, ev in self.events if n == name]

    def index(self, name: str, pred: Callable[[Any], bool], start: int = 0) -> int:
        for i, (n, ev) in enumerate(self.events[start:], start):
            if n == name and pred(ev):
                return i
        raise AssertionError(f"no {name} event matching after position {start}: {self.names()}")

    def names(self) -> list[str]:
        return [n for n, _ in self.events]


def _transitions(events: list[Any]) -> list[tuple[str, str]]:
    return [(ev.old_state, ev.new_state) for ev in events]


def _messages(rec: Recorder, role: str) -> list[str | None]:
    return [
        ev.item.text_content
        for ev in rec.of("conversation_item_added")
        if isinstance(ev.item, llm.ChatMessage) and ev.item.role == role
    ]


async def test_canonical_conversation_produces_the_sdk_events() -> None:
    rec = Recorder()
    async with simulated_session(
        agent_instructions="You are a weather assistant.",
        user_away_timeout=0.3,
        before_start=rec.attach,
    ) as sim:
        sim.llm.script("Hi! How can I help?")
        await sim.user_says("hello there")
        await sim.wait_for_agent_idle()

        sim.llm.reply_with_tool("lookup_weather", "It is sunny in Paris.", city="Paris")
        await sim.user_says("what is the weather in Paris")
        await sim.wait_for_agent_idle()

        await sim.stay_silent(0.45)
        assert sim.session.user_state == "away"

        sim.llm.script("Welcome back.")
        await sim.user_says("I am back")
        await sim.wait_for_agent_idle()
        await sim.close()

    # user states: the SDK's own speaking/listening, then away after the silence, then back
    user_states = _transitions(rec.of("user_state_changed"))
    assert user_states == [
        ("listening", "speaking"),
        ("speaking", "listening"),
        ("listening", "speaking"),
        ("speaking", "listening"),
        ("listening", "away"),
        ("away", "speaking"),
        ("speaking", "listening"),
    ]

    transcripts = rec.of("user_input_transcribed")
    assert [t.transcript for t in transcripts if t.is_final] == [
        "hello there",
        "what is the weather in Paris",
        "I am back",
    ]
    assert any(not t.is_final and t.transcript == "hello" for t in transcripts)
    assert {t.language for t in transcripts} == {"en"}

    assert _messages(rec, "user") == ["hello there", "what is the weather in Paris", "I am back"]
    assert _messages(rec, "assistant") == ["Hi! How can I help?", "It is sunny in Paris.", "Welcome back."]
    handoffs = [ev.item for ev in rec.of("conversation_item_added") if isinstance(ev.item, llm.AgentHandoff)]
    assert len(handoffs) == 1

    (tools_ev,) = rec.of("function_tools_executed")
    (call,) = tools_ev.function_calls
    (output,) = tools_ev.function_call_outputs
    assert call.name == "lookup_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert output is not None
    assert output.name == "lookup_weather"
    assert output.output == "sunny and 21 degrees in Paris"
    assert output.is_error is False
    assert output.call_id == call.call_id
    assert sim.weather.calls == ["Paris"]
    updates = [type(ev.update).__name__ for ev in rec.of("tool_execution_updated")]
    assert updates == ["ToolCallStarted", "ToolCallEnded"]

    agent_states = _transitions(rec.of("agent_state_changed"))
    assert agent_states[0] == ("initializing", "listening")
    assert agent_states.count(("thinking", "speaking")) == 3
    assert agent_states.count(("speaking", "listening")) == 3

    speeches = rec.of("speech_created")
    assert len(speeches) == 3
    assert {s.source for s in speeches} == {"generate_reply"}

    metric_types = {ev.metrics.type for ev in rec.of("metrics_collected")}
    assert {"stt_metrics", "eou_metrics", "llm_metrics", "tts_metrics"} <= metric_types
    assert rec.of("session_usage_updated")
    assert not rec.of("error")

    (close,) = rec.of("close")
    assert close.reason == CloseReason.USER_INITIATED
    assert close.error is None
    assert rec.names()[-1] == "close"

    # one turn, in the order the SDK produces it
    speaking = rec.index("user_state_changed", lambda e: e.new_state == "speaking")
    final = rec.index("user_input_transcribed", lambda e: e.is_final, speaking)
    listening = rec.index("user_state_changed", lambda e: e.new_state == "listening", final)
    user_item = rec.index(
        "conversation_item_added", lambda e: getattr(e.item, "role", None) == "user", listening
    )
    thinking = rec.index("agent_state_changed", lambda e: e.new_state == "thinking", user_item)
    agent_speaking = rec.index("agent_state_changed", lambda e: e.new_state == "speaking", thinking)
    reply = rec.index(
        "conversation_item_added", lambda e: getattr(e.item, "role", None) == "assistant", agent_speaking
    )
    assert rec.index("agent_state_changed", lambda e: e.new_state == "listening", reply) == reply + 1

    # away came only after the tool turn had finished and before the user came back
    away = rec.index("user_state_changed", lambda e: e.new_state == "away")
    tools_at = rec.index("function_tools_executed", lambda e: True)
    back = rec.index("user_state_changed", lambda e: e.old_state == "away")
    assert tools_at < away < back


async def test_llm_sees_instructions_passed_to_generate_reply() -> None:
    async with simulated_session(agent_instructions="You are a weather assistant.") as sim:
        handle = sim.session.generate_reply(instructions="Ask whether the user is still there.")
        await handle
        assert handle.exception() is None

    call = sim.llm.calls[-1]
    assert "Ask whether the user is still there." in call.texts("system", "developer")
    assert "You are a weather assistant." in call.texts("system", "developer")
    assert call.tool_names == ("lookup_weather",)


async def test_tool_error_is_reported_as_error_output() -> None:
    rec = Recorder()
    async with simulated_session(before_start=rec.attach) as sim:
        sim.weather.fail_next()
        sim.llm.reply_with_tool("lookup_weather", "I could not get the weather.", city="Oslo")
        await sim.user_says("weather in Oslo")
        await sim.wait_for_agent_idle()

    (tools_ev,) = rec.of("function_tools_executed")
    (output,) = tools_ev.function_call_outputs
    assert output.is_error is True
    assert output.output == "weather service unavailable"
    ended = rec.of("tool_execution_updated")[-1].update
    assert ended.status == "error"
    assert "I could not get the weather." in _messages(rec, "assistant")
    # the tool output went back to the model
    assert any(isinstance(i, llm.FunctionCallOutput) and i.is_error for i in sim.llm.calls[-1].chat_ctx.items)


async def test_llm_failure_emits_error_and_session_keeps_running() -> None:
    rec = Recorder()
    async with simulated_session(before_start=rec.attach) as sim:
        sim.llm.fail_next()
        await sim.user_says("this will fail")
        await sim.wait_for_agent_idle()
        await sim.user_says("try again")
        await sim.wait_for_agent_idle()

    (error,) = rec.of("error")
    assert error.error.type == "llm_error"
    assert error.error.recoverable is False
    assert error.source is sim.llm
    assert _messages(rec, "assistant") == ["Okay."]
    assert rec.of("close")[0].reason == CloseReason.USER_INITIATED


async def test_llm_delay_shows_up_as_ttft() -> None:
    rec = Recorder()
    async with simulated_session(llm=FakeLLM(delay=0.05), before_start=rec.attach) as sim:
        sim.llm.script(FakeReply(text="Slow answer.", delay=0.1))
        await sim.user_says("hello")
        await sim.wait_for_agent_idle()

    llm_metrics = [ev.metrics for ev in rec.of("metrics_collected") if ev.metrics.type == "llm_metrics"]
    assert len(llm_metrics) == 1
    assert llm_metrics[0].ttft >= 0.1
    assert llm_metrics[0].completion_tokens == 2


async def test_noise_during_agent_speech_is_a_false_interruption() -> None:
    rec = Recorder()
    async with simulated_session(before_start=rec.attach, false_interruption_timeout=0.2) as sim:
        sim.llm.script("A long answer " + "that keeps going " * 8 + "until the end.")
        await sim.user_says("tell me a story")
        await _wait_for(lambda: sim.session.agent_state == "speaking")
        await sim.user_makes_noise(0.35)
        await sim.wait_for_agent_idle()

    (false_int,) = rec.of("agent_false_interruption")
    assert false_int.resumed is True
    (reply,) = _messages(rec, "assistant")
    assert reply is not None
    assert reply.endswith("until the end.")
    assistant = [
        ev.item for ev in rec.of("conversation_item_added") if getattr(ev.item, "role", None) == "assistant"
    ]
    assert assistant[0].interrupted is False


async def test_user_speech_interrupts_the_agent() -> None:
    rec = Recorder()
    async with simulated_session(before_start=rec.attach) as sim:
        sim.llm.script("A long answer " + "that keeps going " * 8 + "until the end.", "Stopping.")
        await sim.user_says("tell me a story")
        await _wait_for(lambda: sim.session.agent_state == "speaking")
        await sim.user_says("stop please", speech_duration=0.35)
        await sim.wait_for_agent_idle()

    assistant = [
        ev.item for ev in rec.of("conversation_item_added") if getattr(ev.item, "role", None) == "assistant"
    ]
    assert [a.interrupted for a in assistant] == [True, False]
    assert assistant[1].text_content == "Stopping."
    assert _messages(rec, "user") == ["tell me a story", "stop please"]


async def test_text_only_mode() -> None:
    rec = Recorder()
    async with simulated_session(text_only=True, user_away_timeout=0.2, before_start=rec.attach) as sim:
        await sim.wait_for_user_state("away")
        sim.llm.reply_with_tool("lookup_weather", "Sunny in Rome.", city="Rome")
        result = await sim.user_types("weather in Rome")
        assert [type(e).__name__ for e in result.events] == [
            "FunctionCallEvent",
            "FunctionCallOutputEvent",
            "ChatMessageEvent",
        ]
        with pytest.raises(RuntimeError):
            await sim.user_says("hello")

    assert _transitions(rec.of("user_state_changed")) == [("listening", "away")]
    assert _messages(rec, "user") == ["weather in Rome"]
    assert _messages(rec, "assistant") == ["Sunny in Rome."]
    assert not rec.of("user_input_transcribed")
    assert rec.of("close")[0].reason == CloseReason.USER_INITIATED


async def test_timed_audio_output_plays_in_wall_clock_time() -> None:
    out = TimedAudioOutput(speed=2.0)
    started: list[float] = []
    finished: list[tuple[float, bool]] = []
    out.on("playback_started", lambda ev: started.append(ev.created_at))
    out.on("playback_finished", lambda ev: finished.append((ev.playback_position, ev.interrupted)))

    frame = rtc.AudioFrame(
        data=b"\x00\x00" * 3200, sample_rate=16000, num_channels=1, samples_per_channel=3200
    )
    t0 = time.monotonic()
    await out.capture_frame(frame)  # 0.2 s of audio, played in 0.1 s
    out.flush()
    ev = await out.wait_for_playout()
    elapsed = time.monotonic() - t0
    assert len(started) == 1
    assert len(finished) == 1
    assert finished[0][0] == pytest.approx(0.2)
    assert finished[0][1] is False
    assert ev.interrupted is False
    assert 0.08 <= elapsed < 0.5

    await out.capture_frame(frame)
    await asyncio.sleep(0.03)
    out.clear_buffer()
    position, interrupted = finished[-1]
    assert interrupted is True
    assert 0.0 < position < 0.2


async def _wait_for(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)
