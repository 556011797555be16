"""Print the event timeline of the canonical simulated conversation: `python -m lkbus.sim`."""

from __future__ import annotations

import asyncio
import time

from .recorder import EventLog, RecordedEvent
from .scenarios import canonical_conversation
from .scripted_user import simulated_session


def _describe(rec: RecordedEvent) -> str:
    ev = rec.event
    if rec.name in ("user_state_changed", "agent_state_changed"):
        return f"{ev.old_state} -> {ev.new_state}"
    if rec.name == "user_input_transcribed":
        return "final" if ev.is_final else "interim"
    if rec.name == "conversation_item_added":
        return str(getattr(ev.item, "role", None) or ev.item.type)
    if rec.name == "metrics_collected":
        return str(ev.metrics.type)
    if rec.name == "function_tools_executed":
        return ", ".join(call.name for call in ev.function_calls)
    if rec.name == "tool_execution_updated":
        return type(ev.update).__name__
    if rec.name == "speech_created":
        return str(ev.source)
    if rec.name == "close":
        return str(ev.reason.value)
    return ""


async def _main() -> None:
    log = EventLog()
    t0 = time.monotonic()
    async with simulated_session(before_start=log.attach) as sim:
        await canonical_conversation(sim)
    for rec in log:
        print(f"{rec.monotonic - t0:7.3f}s  {rec.name:<26} {_describe(rec)}")
    print(f"{len(log)} events in {time.monotonic() - t0:.2f}s")


if __name__ == "__main__":
    asyncio.run(_main())
