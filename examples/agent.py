"""A LiveKit voice agent whose every session event goes to Kafka.

The only lkbus-specific lines are the module-level `publisher`, `await publisher.start()` and
`publisher.attach(session, ctx)`: that one line publishes every session and room event of
the job and routes the commands addressed to the session (prompt_user, say, close_session).

Run it as any LiveKit agent (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET set; the models
are LiveKit Inference models billed to that project):

    python -m livekit.agents start examples/agent.py      # or: python examples/agent.py dev

Models: `AGENT_STT`, `AGENT_LLM`, `AGENT_TTS` (LiveKit Inference model strings) override the
defaults below. Kafka, topics and publisher: `LKBUS_*` (see README.md, `lkbus config`).
Importing this module needs neither network nor credentials: models are built per job.
"""

from __future__ import annotations

import os

from livekit import rtc
from livekit.agents import (
    NOT_GIVEN,
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    NotGivenOr,
    RunContext,
    cli,
    function_tool,
)

from lkbus.settings import load_settings
from producers import EventPublisher

DEFAULT_STT = "deepgram/nova-3"
DEFAULT_LLM = "openai/gpt-4.1-mini"
DEFAULT_TTS = "cartesia/sonic-2"

# One publisher per process, shared by every job it runs; building it does no I/O.
publisher = EventPublisher.from_settings(load_settings())

server = AgentServer()


class Assistant(Agent):
    """A short-spoken voice assistant with one tool."""

    def __init__(self) -> None:
        super().__init__(
            instructions=(
                "You are a friendly voice assistant. Keep answers short and conversational, "
                "without markdown or emojis. Use lookup_weather when asked about the weather."
            )
        )

    @function_tool
    async def lookup_weather(self, context: RunContext[None], location: str) -> str:
        """Look up the current weather for a location.

        Args:
            location: The city or place to look up.
        """
        return f"It is sunny and 21 degrees in {location}."


def build_session() -> AgentSession[None]:
    """The models of a job: LiveKit Inference, chosen by `AGENT_STT`, `AGENT_LLM`, `AGENT_TTS`.

    VAD is the bundled silero model (the SDK's default). Tests substitute fakes here.
    """
    return AgentSession(
        stt=os.environ.get("AGENT_STT", DEFAULT_STT),
        llm=os.environ.get("AGENT_LLM", DEFAULT_LLM),
        tts=os.environ.get("AGENT_TTS", DEFAULT_TTS),
    )


def session_room(ctx: JobContext) -> NotGivenOr[rtc.Room]:
    """The room the session talks through: the job's room.

    An in-process fake job (`livekit.agents.testing.fake_job_context()`) whose room never
    connected has no room to talk through; its session runs on the audio IO it was given.
    """
    if ctx.is_fake_job() and not ctx.room.isconnected():
        return NOT_GIVEN
    return ctx.room


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    await publisher.start()  # idempotent: the first job of the process starts it

    session = build_session()
    publisher.attach(session, ctx)  # every session and room event to Kafka, and commands back
    await session.start(agent=Assistant(), room=session_room(ctx))

    await session.generate_reply(instructions="Greet the user and offer your help.")


if __name__ == "__main__":
    cli.run_app(server)
