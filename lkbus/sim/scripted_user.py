"""Run a real `AgentSession` offline with fake models, fake audio and a scripted user."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, TypedDict, Unpack

from livekit.agents import Agent, AgentSession, llm
from livekit.agents.voice.events import UserInputTranscribedEvent, UserState
from livekit.agents.voice.run_result import RunResult

from .fake_audio import SilentAudioInput, TimedAudioOutput
from .fake_llm import FakeLLM
from .fake_stt import FakeSTT
from .fake_tts import FakeTTS
from .fake_vad import FakeVAD
from .tools import WeatherService

__all__ = ["ScriptedUser", "SimulatedSession", "SimulationOptions", "simulated_session"]

DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant. Keep answers short."


async def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


class ScriptedUser:
    """The simulated person: drives `FakeVAD` and `FakeSTT` the way a speaking user would.

    Only model events are produced here; every session event is the SDK's own.
    """

    def __init__(self, session: AgentSession[Any], *, vad: FakeVAD, stt: FakeSTT, tick: float = 0.02) -> None:
        self._session = session
        self._vad = vad
        self._stt = stt
        self._tick = tick
        self._finals = 0
        session.on("user_input_transcribed", self._on_transcribed)

    def _on_transcribed(self, ev: UserInputTranscribedEvent) -> None:
        if ev.is_final:
            self._finals += 1

    async def says(self, text: str, *, speech_duration: float = 0.1, timeout: float = 3.0) -> None:
        """Speak `text` for `speech_duration` seconds, then go quiet.

        The VAD reports start of speech, inference windows while speaking and end
        of speech; the STT reports interim and final transcripts before the end of
        speech. Returns once the session has the final transcript and the user is
        `listening` again (the turn then ends after the endpointing delay).
        """
        await self._vad.wait_for_stream(timeout)
        await self._stt.wait_for_stream(timeout)
        finals_before = self._finals
        await self._speech_activity(speech_duration)
        self._stt.transcribe(text, audio_duration=speech_duration)
        await _wait_until(lambda: self._finals > finals_before, timeout, "the final transcript")
        await self._end_of_speech(speech_duration, timeout)

    async def makes_noise(self, duration: float = 0.4, *, timeout: float = 3.0) -> None:
        """Voice activity without words (a cough, a door): VAD events, no transcript.

        Longer than the session's interruption `min_duration`, it pauses agent
        speech; with no transcript following, the session resumes it and emits
        `agent_false_interruption`.
        """
        await self._vad.wait_for_stream(timeout)
        await self._speech_activity(duration)
        await self._end_of_speech(duration, timeout)

    async def stays_silent(self, seconds: float) -> None:
        """Say nothing for `seconds` (the fake microphone keeps sending silence)."""
        await asyncio.sleep(seconds)

    async def _speech_activity(self, duration: float) -> None:
        self._vad.start_of_speech()
        elapsed = 0.0
        while elapsed < duration:
            step = min(self._tick, duration - elapsed)
            await asyncio.sleep(step)
            elapsed += step
            self._vad.inference_done(speaking=True, speech_duration=elapsed)

    async def _end_of_speech(self, duration: float, timeout: float) -> None:
        self._vad.end_of_speech(speech_duration=duration)
        await _wait_until(lambda: self._session.user_state != "speaking", timeout, "the end of user speech")


class SimulationOptions(TypedDict, total=False):
    """Keyword arguments of `SimulatedSession` (and `simulated_session`)."""

    agent_instructions: str
    tools: Sequence[llm.Tool] | None
    user_away_timeout: float | None
    llm: FakeLLM | None
    tts: FakeTTS | None
    weather: WeatherService | None
    agent: Agent | None
    text_only: bool
    audio_speed: float
    endpointing_delay: float
    interruption_min_duration: float
    false_interruption_timeout: float | None
    session_close_transcript_timeout: float
    max_tool_steps: int


class SimulatedSession:
    """A real `AgentSession` wired to fake VAD/STT/LLM/TTS and fake audio IO.

    Build it, subscribe to `session` if you want every event from the start,
    then `await start()`; or use `simulated_session(...)`, which does both.
    `llm`, `tts` and `weather` are exposed so a test can script replies, make
    the tool or a model fail, and read what the models were given. Build it
    inside a running event loop (the session binds to it).

    Args:
        agent_instructions: Instructions of the default `Agent`.
        tools: Tools of the default `Agent`; defaults to `[weather.tool]`.
        user_away_timeout: Seconds of mutual silence before the user is `away`.
        llm, tts, weather: Fakes to use instead of fresh ones.
        agent: An `Agent` to run instead of the default one.
        text_only: No VAD/STT/TTS and no audio IO; drive it with `user_types()`.
        audio_speed: Playout speed of the fake speaker (2.0 plays twice as fast).
        endpointing_delay: Silence after end of speech before the turn ends.
        interruption_min_duration: Speech needed to interrupt the agent.
        false_interruption_timeout: Silence after which a transcript-less
            interruption counts as false and the agent resumes.
        session_close_transcript_timeout: How long close waits for a last transcript.
        max_tool_steps: Consecutive tool rounds per reply.
    """

    def __init__(
        self,
        *,
        agent_instructions: str = DEFAULT_INSTRUCTIONS,
        tools: Sequence[llm.Tool] | None = None,
        user_away_timeout: float | None = 0.4,
        llm: FakeLLM | None = None,
        tts: FakeTTS | None = None,
        weather: WeatherService | None = None,
        agent: Agent | None = None,
        text_only: bool = False,
        audio_speed: float = 1.0,
        endpointing_delay: float = 0.05,
        interruption_min_duration: float = 0.3,
        false_interruption_timeout: float | None = 0.3,
        session_close_transcript_timeout: float = 0.05,
        max_tool_steps: int = 3,
    ) -> None:
        self.text_only = text_only
        self.llm = llm or FakeLLM()
        self.tts = tts or FakeTTS()
        self.vad = FakeVAD()
        self.stt = FakeSTT()
        self.weather = weather or WeatherService()
        self.audio_input = SilentAudioInput()
        self.audio_output = TimedAudioOutput(speed=audio_speed)
        self.agent = agent or Agent(
            instructions=agent_instructions,
            tools=list(tools) if tools is not None else [self.weather.tool],
        )
        if text_only:
            self.session: AgentSession[None] = AgentSession(
                llm=self.llm,
                vad=None,
                turn_handling={"turn_detection": None},
                max_tool_steps=max_tool_steps,
                user_away_timeout=user_away_timeout,
            )
        else:
            self.session = AgentSession(
                vad=self.vad,
                stt=self.stt,
                llm=self.llm,
                tts=self.tts,
                turn_handling={
                    "turn_detection": "vad",
                    "interruption": {
                        "mode": "vad",
                        "min_duration": interruption_min_duration,
                        "false_interruption_timeout": false_interruption_timeout,
                    },
                    "endpointing": {"min_delay": endpointing_delay, "max_delay": 1.0},
                    "preemptive_generation": {"enabled": False},
                },
                max_tool_steps=max_tool_steps,
                user_away_timeout=user_away_timeout,
                session_close_transcript_timeout=session_close_transcript_timeout,
                # no echo to cancel, and a warm-up would block interruptions for 3 s
                aec_warmup_duration=None,
            )
            self.session.input.audio = self.audio_input
            self.session.output.audio = self.audio_output
        self.user = ScriptedUser(self.session, vad=self.vad, stt=self.stt)
        self._closed = asyncio.Event()
        self.session.on("close", lambda _ev: self._closed.set())

    async def start(self) -> None:
        """Start the session (no room, no job: runs in-process)."""
        await self.session.start(self.agent, record=False)

    async def user_says(self, text: str, *, speech_duration: float = 0.1) -> None:
        """The user speaks `text`; see `ScriptedUser.says`."""
        self._require_voice()
        await self.user.says(text, speech_duration=speech_duration)

    async def user_makes_noise(self, duration: float = 0.4) -> None:
        """Voice activity without a transcript; see `ScriptedUser.makes_noise`."""
        self._require_voice()
        await self.user.makes_noise(duration)

    async def user_types(self, text: str) -> RunResult[None]:
        """Text input through `session.run()`; returns once the reply is done.

        Works in both modes. The SDK emits no `user_input_transcribed` and no
        user state change for text input.
        """
        return await self.session.run(user_input=text)

    def _require_voice(self) -> None:
        if self.text_only:
            raise RuntimeError("text-only simulation: use user_types()")

    async def stay_silent(self, seconds: float) -> None:
        """The user says nothing for `seconds`."""
        await self.user.stays_silent(seconds)

    async def wait_for_user_state(self, state: UserState, *, timeout: float = 3.0) -> None:
        """Wait until the session reports the user in `state` (e.g. `away`)."""
        await _wait_until(lambda: self.session.user_state == state, timeout, f"user {state}")

    async def wait_for_agent_idle(self, *, timeout: float = 5.0) -> None:
        """Wait until the reply (tools and playout included) is done and the agent listens."""
        await asyncio.wait_for(self.session.wait_for_idle(), timeout)
        await _wait_until(lambda: self.session.agent_state == "listening", timeout, "the agent to listen")

    async def close(self, *, drain: bool = False, timeout: float = 5.0) -> None:
        """Close the session (`close` is emitted with reason `user_initiated`)."""
        if not self._closed.is_set():
            if drain:
                self.session.shutdown(drain=True)
                await asyncio.wait_for(self._closed.wait(), timeout)
            else:
                await asyncio.wait_for(self.session.aclose(), timeout)
        self.audio_input.close()

    async def __aenter__(self) -> SimulatedSession:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@contextlib.asynccontextmanager
async def simulated_session(
    *,
    before_start: Callable[[AgentSession[None]], object] | None = None,
    **kwargs: Unpack[SimulationOptions],
) -> AsyncIterator[SimulatedSession]:
    """Build and start a `SimulatedSession`; close it on exit.

    `before_start(session)` runs before `start()`, so handlers it attaches see
    the first events. Other keyword arguments are `SimulatedSession`'s.
    """
    sim = SimulatedSession(**kwargs)
    if before_start is not None:
        before_start(sim.session)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()
