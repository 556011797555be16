"""Offline simulation kit: real `AgentSession`s driven by fake models, fake audio and a scripted user.

Every session event comes from the SDK itself; the fakes only stand in for
the models and the audio devices.
"""

from .fake_audio import SilentAudioInput, TimedAudioOutput
from .fake_llm import FakeLLM, FakeLLMCall, FakeReply, FakeToolCall
from .fake_stt import FakeSTT
from .fake_tts import FakeTTS
from .fake_vad import FakeVAD
from .recorder import EVENT_NAMES, EventLog, RecordedEvent
from .scenarios import canonical_conversation
from .scripted_user import ScriptedUser, SimulatedSession, SimulationOptions, simulated_session
from .tools import WeatherService

__all__ = [
    "EVENT_NAMES",
    "EventLog",
    "FakeLLM",
    "FakeLLMCall",
    "FakeReply",
    "FakeSTT",
    "FakeTTS",
    "FakeToolCall",
    "FakeVAD",
    "RecordedEvent",
    "ScriptedUser",
    "SilentAudioInput",
    "SimulatedSession",
    "SimulationOptions",
    "TimedAudioOutput",
    "WeatherService",
    "canonical_conversation",
    "simulated_session",
]
