"""Version 1 commands to a running agent session, and their outcome events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.payloads.base import Payload


class CommandV1(Payload):
    """Fields every command carries. Times are epoch seconds."""

    command_id: str = Field(min_length=1)
    session_id: str = Field(min_length=1)
    issued_at: float
    expires_at: float


class PromptUserV1(CommandV1):
    """Ask the agent to generate a reply, e.g. to check on a user who went away."""

    instructions: str | None = None
    allow_interruptions: bool | None = None


class SayV1(CommandV1):
    """Make the agent say a fixed text."""

    text: str
    allow_interruptions: bool | None = None
    add_to_chat_ctx: bool = True


class CloseSessionV1(CommandV1):
    """Close the session, after the current speech when ``drain`` is set."""

    reason: str | None = None
    drain: bool = True


CommandType = Literal["prompt_user", "say", "close_session"]
RejectReason = Literal["expired", "duplicate", "unknown_session", "session_closed", "invalid", "failed"]


class CommandExecutedV1(Payload):
    """A command ran on the agent."""

    command_id: str
    command_type: CommandType
    speech_id: str | None = None


class CommandRejectedV1(Payload):
    """A command was not run; ``detail`` never holds user text."""

    command_id: str
    command_type: CommandType
    reason: RejectReason
    detail: str | None = None


COMMANDS: dict[str, type[CommandV1]] = {
    "lkbus.command.prompt_user": PromptUserV1,
    "lkbus.command.say": SayV1,
    "lkbus.command.close_session": CloseSessionV1,
}
"""Command type name to its version 1 model."""

OUTCOMES: dict[str, type[Payload]] = {
    "lkbus.command.executed": CommandExecutedV1,
    "lkbus.command.rejected": CommandRejectedV1,
}
"""Command outcome event type name to its version 1 payload model."""
