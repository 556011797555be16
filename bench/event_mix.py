"""The realistic mix of SDK events the benchmarks encode and publish."""

from __future__ import annotations

import time

from livekit.agents.llm import ChatMessage
from livekit.agents.metrics.base import LLMMetrics, Metadata
from livekit.agents.voice import events as ev
from pydantic import BaseModel


def event_mix() -> list[BaseModel]:
    """A realistic mix: state changes dominate, then transcripts, messages and metrics."""
    message = ChatMessage(
        role="assistant",
        content=["Sure, I can help you move your appointment to Thursday afternoon."],
        metrics={"llm_node_ttft": 0.31, "tts_node_ttfb": 0.12, "e2e_latency": 0.9},
    )
    metrics = LLMMetrics(
        label="openai.LLM",
        request_id="req_1",
        timestamp=time.time(),
        duration=1.2,
        ttft=0.3,
        cancelled=False,
        completion_tokens=40,
        prompt_tokens=900,
        prompt_cached_tokens=512,
        total_tokens=940,
        tokens_per_second=33.0,
        metadata=Metadata(model_name="gpt-4o", model_provider="openai"),
    )
    return [
        ev.UserStateChangedEvent(old_state="listening", new_state="speaking"),
        ev.AgentStateChangedEvent(old_state="listening", new_state="thinking"),
        ev.UserInputTranscribedEvent(transcript="I need to move my appointment", is_final=False),
        ev.UserInputTranscribedEvent(
            transcript="I need to move my appointment please", is_final=True, language="en"
        ),
        ev.AgentStateChangedEvent(old_state="thinking", new_state="speaking"),
        ev.ConversationItemAddedEvent(item=message),
        ev.MetricsCollectedEvent(metrics=metrics),
        ev.UserStateChangedEvent(old_state="speaking", new_state="listening"),
    ]
