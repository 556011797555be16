"""The scripted users of the demo: each drives one REAL AgentSession through a kind of conversation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lkbus.sim import EventLog, SimulatedSession

PROMPT_MARK = "inactive"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A kind of user: its name, what the demo expects of it, and the script."""

    name: str
    description: str
    closed_by_inactivity: bool
    script: Callable[[SimulatedSession, EventLog, float], Awaitable[None]]


async def _turn(sim: SimulatedSession, said: str, reply: str) -> None:
    sim.llm.script(reply)
    await sim.user_says(said)
    await sim.wait_for_agent_idle(timeout=15)


async def _until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def was_prompted(sim: SimulatedSession) -> bool:
    return any(PROMPT_MARK in " ".join(call.texts("system", "developer")) for call in sim.llm.calls)


async def talk_and_leave(sim: SimulatedSession, log: EventLog, patience: float) -> None:
    await _turn(sim, "hi, I need to book a table for two", "Sure, for which day?")
    await _turn(sim, "tomorrow at eight", "Booked for tomorrow at eight.")
    await _turn(sim, "thanks, bye", "Goodbye!")
    await sim.close()


async def silent_then_back(sim: SimulatedSession, log: EventLog, patience: float) -> None:
    await _turn(sim, "hello, can you check my order", "Of course, what is the order number?")
    if await _until(lambda: was_prompted(sim), patience):
        await sim.wait_for_agent_idle(timeout=15)
        await _turn(sim, "sorry, I am back, it is one two three", "Thanks, order 123 ships today.")
    await _turn(sim, "great, bye", "Goodbye!")
    await sim.close()


async def silent_until_closed(sim: SimulatedSession, log: EventLog, patience: float) -> None:
    await _turn(sim, "hello?", "Hi! How can I help?")
    if not await _until(lambda: bool(log.of("close")), patience):
        await sim.close()


async def tool_errors(sim: SimulatedSession, log: EventLog, patience: float) -> None:
    sim.weather.fail_next()
    sim.llm.reply_with_tool(sim.weather.tool_name, "Sorry, the weather service is down.", city="Paris")
    await sim.user_says("what is the weather in Paris")
    await sim.wait_for_agent_idle(timeout=15)
    sim.llm.reply_with_tool(sim.weather.tool_name, "It is sunny in Paris.", city="Paris")
    await sim.user_says("can you try again")
    await sim.wait_for_agent_idle(timeout=15)
    await sim.close()


TALKER = Scenario("talk and leave", "talks, then hangs up", False, talk_and_leave)
PROMPTED = Scenario("prompted back", "goes silent, is prompted, comes back", False, silent_then_back)
SILENT = Scenario("silent", "goes silent until the session is closed", True, silent_until_closed)
TOOLS = Scenario("tool errors", "asks for the weather while the tool fails", False, tool_errors)


def cast(sessions: int) -> list[Scenario]:
    """The scenario of each session: one with tool errors, a quarter silent, a quarter prompted back."""
    roles = [TOOLS]
    for i in range(1, sessions):
        roles.append(SILENT if i % 4 == 1 else PROMPTED if i % 4 == 2 else TALKER)
    return roles[:sessions]
