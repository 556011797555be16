"""Ready-made scripted conversations for tests, benchmarks and demos."""

from __future__ import annotations

from .scripted_user import SimulatedSession

__all__ = ["canonical_conversation"]


async def canonical_conversation(sim: SimulatedSession, *, away_wait: float = 3.0) -> None:
    """Greeting, a `lookup_weather` tool turn, silence until `away`, the user returns, close.

    Needs a started voice `SimulatedSession` with the default tools and a
    `user_away_timeout`.
    """
    sim.llm.script("Hi! How can I help?")
    await sim.user_says("hello there")
    await sim.wait_for_agent_idle()

    sim.llm.reply_with_tool(sim.weather.tool_name, "It is sunny in Paris.", city="Paris")
    await sim.user_says("what is the weather in Paris")
    await sim.wait_for_agent_idle()

    await sim.wait_for_user_state("away", timeout=away_wait)

    sim.llm.script("Welcome back.")
    await sim.user_says("I am back")
    await sim.wait_for_agent_idle()
    await sim.close()
