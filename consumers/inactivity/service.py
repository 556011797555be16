"""The inactivity consumer: when a user goes away, tell the agent to check in, then to close.

Reads the user-state and session topics (co-partitioned by session id), folds each session's
events with the pure policy, and sends due commands to the commands topic on a timer. Command
ids are deterministic and the agent drops duplicates, so a restart that re-reads an episode
sends nothing twice; offsets are never committed past the first record of an open episode, so
a restart rebuilds every open episode from the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from aiokafka import TopicPartition

from consumers.inactivity.policy import (
    RELEVANT_TYPES,
    Action,
    InactivityConfig,
    InactivityOverrides,
    InactivityPolicy,
    SessionState,
    apply,
    due,
    mark_issued,
)
from consumers.runtime import ConsumerContext, EventConsumer, Incoming
from lkbus.settings import InactivitySettings, Settings
from schemas import encode_command

logger = logging.getLogger("lkbus.consumers.inactivity")


def config_from_settings(settings: InactivitySettings) -> InactivityConfig:
    """The policy configuration the settings describe."""
    default = InactivityPolicy(
        prompt_interval_s=settings.prompt_interval_s,
        max_prompts=settings.max_prompts,
        prompt_instructions=settings.prompt_instructions,
        close_reason=settings.close_reason,
        command_ttl_s=settings.command_ttl_s,
    )
    per_agent = {name: InactivityOverrides.model_validate(o) for name, o in settings.per_agent.items()}
    return InactivityConfig(default=default, per_agent=per_agent)


class InactivityConsumer(EventConsumer):
    """`lkbus consume inactivity`."""

    name = "inactivity"

    def __init__(self) -> None:
        self.states: dict[str, SessionState] = {}
        self.sent: list[Action] = []
        self._holdback: dict[str, dict[TopicPartition, int]] = {}
        self._partition_of: dict[str, int] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._acting = asyncio.Lock()

    def subscriptions(self, settings: Settings) -> list[str]:
        t = settings.topics
        return [t.name(t.user_state), t.name(t.session_events)]

    def output_topics(self, settings: Settings) -> list[str]:
        return [settings.topics.name(settings.topics.commands)]

    async def start(self, context: ConsumerContext) -> None:
        await super().start(context)
        self.config = config_from_settings(context.settings.inactivity)
        self.commands_topic = context.settings.topics.name(context.settings.topics.commands)
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    async def handle(self, batch: Sequence[Incoming]) -> None:
        touched = set()
        for record in batch:
            event = record.event
            if event.type not in RELEVANT_TYPES:
                continue
            sid = event.session_id
            state = apply(self.states.get(sid), event)
            if state is None:
                continue
            self._partition_of[sid] = record.partition
            if state.closed:
                self.states.pop(sid, None)
                self._holdback.pop(sid, None)
                continue
            self.states[sid] = state
            if state.episode is not None:
                self._holdback.setdefault(sid, {}).setdefault(record.tp, record.offset)
            else:
                self._holdback.pop(sid, None)
            touched.add(sid)
        if touched and self.context.caught_up():
            await self._act(touched)

    def commit_offsets(self, processed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        result = dict(processed)
        for offsets in self._holdback.values():
            for tp, offset in offsets.items():
                if tp in result:
                    result[tp] = min(result[tp], offset)
        return result

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        for sid in [s for s, p in self._partition_of.items() if p in numbers]:
            self.states.pop(sid, None)
            self._holdback.pop(sid, None)
            self._partition_of.pop(sid, None)

    async def _tick_forever(self) -> None:
        tick = self.context.settings.inactivity.tick_s
        while True:
            await asyncio.sleep(tick)
            if self.context.caught_up():
                try:
                    await self._act(set(self.states))
                except Exception:
                    logger.exception("inactivity: sending due commands failed; retrying next tick")

    async def _act(self, sessions: set[str]) -> None:
        async with self._acting:  # the ticker and the batch handler both act
            await self._act_locked(sessions)

    async def _act_locked(self, sessions: set[str]) -> None:
        now = time.time()
        for sid in sessions:
            state = self.states.get(sid)
            if state is None or state.episode is None:
                continue
            for action in due(state, now, self.config.policy_for(state.agent_name)):
                command = action.command
                if command.expires_at >= now:
                    record = encode_command(command, source=f"lkbus/{self.name}")
                    await self.context.publish(self.commands_topic, record.key, record.value, record.headers)
                    self.sent.append(action)
                    logger.info("inactivity: sent %s for session %s", type(action).__name__.lower(), sid)
                state = mark_issued(state, action)
                self.states[sid] = state
