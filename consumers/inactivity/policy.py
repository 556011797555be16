"""The inactivity policy as pure functions of a session's events and the clock.

``apply`` folds one event into a ``SessionState``; ``due`` says which command to send
now; ``mark_issued`` records that it was sent; ``next_deadline`` says when to look again.
No I/O: the runner owns Kafka, timers and the clock.

Command ids are derived from (session id, seq of the ``away`` event that opened the
episode, step), so a restarted consumer that re-folds the history re-derives the same
commands and the agent side drops the ones it already ran.

Ordering: ``user_state_changed`` travels on its own topic, transcripts and outcomes on the
session topic, so the two streams interleave arbitrarily. The user's presence is therefore
ordered by ``seq`` alone (an older event than the newest user-activity event already folded
is ignored), while closes and command outcomes are order-free facts. Folding the same events
again, or in any interleaving that keeps each topic's order, gives the same state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from schemas import CloseSessionV1, Event, PromptUserV1
from schemas.payloads.agent_v1 import UserInputTranscribedV1, UserStateChangedV1
from schemas.payloads.commands_v1 import CommandExecutedV1, CommandRejectedV1
from schemas.payloads.lifecycle_v1 import SessionStartedV1

MAX_PROMPTS: Final = 20
"""Upper bound of ``max_prompts``; also how far an outcome's id is matched to a prompt number."""

COMMAND_NAMESPACE: Final = uuid.UUID("6f0b6c1e-3d0a-5c57-9a43-2c1f4e8b7d10")
"""uuid5 namespace of inactivity command ids. Changing it re-sends every pending command."""

USER_STATE_CHANGED: Final = "livekit.agent.user_state_changed"
USER_INPUT_TRANSCRIBED: Final = "livekit.agent.user_input_transcribed"
AGENT_CLOSE: Final = "livekit.agent.close"
SESSION_STARTED: Final = "lkbus.session.started"
SESSION_ENDED: Final = "lkbus.session.ended"
COMMAND_EXECUTED: Final = "lkbus.command.executed"
COMMAND_REJECTED: Final = "lkbus.command.rejected"

RELEVANT_TYPES: Final = frozenset(
    {
        USER_STATE_CHANGED,
        USER_INPUT_TRANSCRIBED,
        AGENT_CLOSE,
        SESSION_STARTED,
        SESSION_ENDED,
        COMMAND_EXECUTED,
        COMMAND_REJECTED,
    }
)
"""Event types ``apply`` reads; a runner may subscribe to or filter on exactly these."""


class InactivityPolicy(BaseModel):
    """When to prompt a user who went away, and when to give up and close the session.

    Prompt ``k`` (1-based) is due at ``away + first_prompt_delay_s + (k - 1) * prompt_interval_s``;
    the close is due one interval after the last prompt.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_interval_s: float = Field(default=10.0, gt=0)
    max_prompts: int = Field(default=3, ge=0, le=MAX_PROMPTS)
    prompt_instructions: str = Field(
        default="The user has been inactive. Politely check if the user is still present.", min_length=1
    )
    close_reason: str = "user inactive"
    command_ttl_s: float = Field(default=30.0, gt=0)
    first_prompt_delay_s: float = Field(default=0.0, ge=0)

    def prompt_at(self, away_at: float, number: int) -> float:
        """Due time of prompt ``number`` (1-based) in an episode that began at ``away_at``."""
        return away_at + self.first_prompt_delay_s + (number - 1) * self.prompt_interval_s

    def close_at(self, away_at: float) -> float:
        """Due time of the close in an episode that began at ``away_at``."""
        return away_at + self.first_prompt_delay_s + self.max_prompts * self.prompt_interval_s


class InactivityOverrides(BaseModel):
    """The fields of ``InactivityPolicy`` one agent changes; None keeps the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_interval_s: float | None = Field(default=None, gt=0)
    max_prompts: int | None = Field(default=None, ge=0, le=MAX_PROMPTS)
    prompt_instructions: str | None = Field(default=None, min_length=1)
    close_reason: str | None = None
    command_ttl_s: float | None = Field(default=None, gt=0)
    first_prompt_delay_s: float | None = Field(default=None, ge=0)


class InactivityConfig(BaseModel):
    """The default policy and per-agent-name overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: InactivityPolicy = Field(default_factory=InactivityPolicy)
    per_agent: dict[str, InactivityOverrides] = Field(default_factory=dict)

    def policy_for(self, agent_name: str | None) -> InactivityPolicy:
        """The default policy with the overrides of ``agent_name`` (if any) applied."""
        overrides = self.per_agent.get(agent_name) if agent_name is not None else None
        if overrides is None:
            return self.default
        return InactivityPolicy.model_validate(
            {**self.default.model_dump(), **overrides.model_dump(exclude_none=True)}
        )


@dataclass(frozen=True, slots=True)
class AwayEpisode:
    """One quiet spell: from the user's ``away`` until they come back."""

    away_seq: int
    """``seq`` of the ``away`` event: part of every command id of the episode."""
    started_at: float
    """Epoch seconds of the ``away`` event."""
    prompts_issued: int = 0
    """Highest prompt number sent or attempted (earlier ones that were skipped count as done)."""


@dataclass(frozen=True, slots=True)
class SessionState:
    """What the policy knows about one session."""

    session_id: str
    agent_name: str | None = None
    episode: AwayEpisode | None = None
    closed: bool = False
    """The session closed: nothing is ever due again."""
    close_requested: bool = False
    """A close command was sent, ran or was rejected: nothing is due again."""
    issued: frozenset[str] = frozenset()
    """Ids of the prompt and close commands sent (``mark_issued``) or seen in an outcome."""
    user_seq: int = 0
    """Highest ``seq`` of a user-activity event folded; older ones are ignored."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """Send ``command``: prompt number ``number`` of the episode opened by ``away_seq``."""

    away_seq: int
    number: int
    command: PromptUserV1


@dataclass(frozen=True, slots=True)
class Close:
    """Send ``command``: close the session whose user never came back."""

    away_seq: int
    command: CloseSessionV1


Action = Prompt | Close


def command_id(session_id: str, away_seq: int, step: int | str) -> str:
    """The deterministic id of prompt ``step`` (an int) or of ``"close"`` in one episode."""
    step_name = f"prompt/{step}" if isinstance(step, int) else step
    return str(uuid.uuid5(COMMAND_NAMESPACE, f"{session_id}/{away_seq}/{step_name}"))


def _prompts_issued(session_id: str, episode: AwayEpisode, issued: frozenset[str]) -> int:
    if not issued:
        return episode.prompts_issued
    for number in range(MAX_PROMPTS, episode.prompts_issued, -1):
        if command_id(session_id, episode.away_seq, number) in issued:
            return number
    return episode.prompts_issued


def _with_issued(state: SessionState, ids: frozenset[str]) -> SessionState:
    issued = state.issued | ids
    episode = state.episode
    if episode is not None:
        episode = replace(episode, prompts_issued=_prompts_issued(state.session_id, episode, ids))
    return replace(state, issued=issued, episode=episode)


def _apply_user_activity(state: SessionState, seq: int | None, time: float, away: bool) -> SessionState:
    # Without a seq the event cannot be ordered against the other topic: ignore it.
    if seq is None or seq <= state.user_seq:
        return state
    if not away:
        return replace(state, user_seq=seq, episode=None)
    if state.episode is not None:
        return replace(state, user_seq=seq)
    episode = AwayEpisode(away_seq=seq, started_at=time)
    episode = replace(episode, prompts_issued=_prompts_issued(state.session_id, episode, state.issued))
    return replace(state, user_seq=seq, episode=episode)


def apply(state: SessionState | None, event: Event) -> SessionState | None:
    """Fold one event of the session into its state.

    Returns ``state`` unchanged (None stays None) for events the policy does not read.
    Raises ValueError when ``event`` belongs to another session than ``state``.
    """
    if event.type not in RELEVANT_TYPES:
        return state
    if state is None:
        state = SessionState(session_id=event.session_id)
    elif event.session_id != state.session_id:
        raise ValueError("event belongs to another session than the state")
    if state.agent_name is None and event.agent_name is not None:
        state = replace(state, agent_name=event.agent_name)

    data = event.data
    if isinstance(data, UserStateChangedV1):
        if data.new_state == data.old_state:
            return state
        return _apply_user_activity(state, event.seq, event.time.timestamp(), data.new_state == "away")
    if isinstance(data, UserInputTranscribedV1):
        if not data.is_final:
            return state
        return _apply_user_activity(state, event.seq, event.time.timestamp(), away=False)
    if isinstance(data, SessionStartedV1):
        return replace(state, agent_name=data.agent_name)
    if isinstance(data, CommandExecutedV1 | CommandRejectedV1):
        if data.command_type == "close_session":
            state = replace(state, close_requested=True)
        elif data.command_type != "prompt_user":
            return state
        return _with_issued(state, frozenset({data.command_id}))
    if event.type in (AGENT_CLOSE, SESSION_ENDED):
        return replace(state, closed=True, episode=None)
    return state


def _prompt(state: SessionState, episode: AwayEpisode, number: int, policy: InactivityPolicy) -> Prompt:
    issued_at = policy.prompt_at(episode.started_at, number)
    return Prompt(
        away_seq=episode.away_seq,
        number=number,
        command=PromptUserV1(
            command_id=command_id(state.session_id, episode.away_seq, number),
            session_id=state.session_id,
            issued_at=issued_at,
            expires_at=issued_at + policy.command_ttl_s,
            instructions=policy.prompt_instructions,
        ),
    )


def _close(state: SessionState, episode: AwayEpisode, policy: InactivityPolicy) -> Close:
    issued_at = policy.close_at(episode.started_at)
    return Close(
        away_seq=episode.away_seq,
        command=CloseSessionV1(
            command_id=command_id(state.session_id, episode.away_seq, "close"),
            session_id=state.session_id,
            issued_at=issued_at,
            expires_at=issued_at + policy.command_ttl_s,
            reason=policy.close_reason,
            drain=True,
        ),
    )


def _active_episode(state: SessionState) -> AwayEpisode | None:
    if state.closed or state.close_requested:
        return None
    return state.episode


def due(state: SessionState, now: float, policy: InactivityPolicy) -> list[Action]:
    """The command to send at ``now`` (epoch seconds): at most one.

    A consumer that fell behind does not send a burst: only the latest prompt that is due
    (earlier missed ones are skipped), and once the close is due, only the close.
    """
    episode = _active_episode(state)
    if episode is None:
        return []
    if now >= policy.close_at(episode.started_at):
        close = _close(state, episode, policy)
        return [] if close.command.command_id in state.issued else [close]
    latest = 0
    for number in range(policy.max_prompts, episode.prompts_issued, -1):
        if now >= policy.prompt_at(episode.started_at, number):
            latest = number
            break
    if latest == 0:
        return []
    prompt = _prompt(state, episode, latest, policy)
    return [] if prompt.command.command_id in state.issued else [prompt]


def mark_issued(state: SessionState, action: Action) -> SessionState:
    """Record that ``action``'s command was sent, so it is never due again."""
    state = _with_issued(state, frozenset({action.command.command_id}))
    if isinstance(action, Close):
        state = replace(state, close_requested=True)
    return state


def next_deadline(state: SessionState, policy: InactivityPolicy) -> float | None:
    """When the next command falls due (possibly already past); None when none ever will."""
    episode = _active_episode(state)
    if episode is None:
        return None
    if episode.prompts_issued < policy.max_prompts:
        return policy.prompt_at(episode.started_at, episode.prompts_issued + 1)
    return policy.close_at(episode.started_at)
