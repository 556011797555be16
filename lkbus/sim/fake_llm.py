"""A scripted, offline `llm.LLM` for driving a real AgentSession."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit.agents import APIConnectOptions, APIError, llm, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

__all__ = ["FakeLLM", "FakeLLMCall", "FakeReply", "FakeToolCall"]


@dataclass(frozen=True)
class FakeToolCall:
    """A function call the fake model asks the session to run."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeReply:
    """One scripted model turn.

    `delay` is waited before the first chunk (it becomes the LLM metrics' ttft;
    None means the `FakeLLM`'s own delay); `error`, when set, is raised instead
    of replying.
    """

    text: str = ""
    tool_calls: tuple[FakeToolCall, ...] = ()
    delay: float | None = None
    error: Exception | None = None


@dataclass(frozen=True)
class FakeLLMCall:
    """What the session passed to one `chat()` call."""

    chat_ctx: llm.ChatContext
    tool_names: tuple[str, ...]

    def texts(self, *roles: str) -> list[str]:
        """Text of the messages in the context, optionally only those with the given roles."""
        return [
            text
            for item in self.chat_ctx.items
            if isinstance(item, llm.ChatMessage)
            and (not roles or item.role in roles)
            and (text := item.text_content) is not None
        ]


Responder = Callable[[llm.ChatContext], FakeReply | str | None]


class FakeLLM(llm.LLM[Literal["metrics_collected", "error"]]):
    """An LLM that replies from a script and records what it was asked.

    Replies are taken, in order, from the queue given to the constructor or to
    `script()`. When the queue is empty, `responder` (if any) is asked, then
    `default_reply` is used. A call made right after a tool ran answers with
    `after_tool_reply` unless a scripted reply is queued.
    """

    def __init__(
        self,
        *,
        replies: Iterable[FakeReply | str] = (),
        default_reply: str = "Okay.",
        after_tool_reply: str | None = "Done.",
        responder: Responder | None = None,
        delay: float = 0.0,
    ) -> None:
        super().__init__()
        self._queue: deque[FakeReply] = deque(_as_reply(r) for r in replies)
        self._default_reply = default_reply
        self._after_tool_reply = after_tool_reply
        self._responder = responder
        self._delay = delay
        self._calls: list[FakeLLMCall] = []

    @property
    def model(self) -> str:
        return "fake-llm"

    @property
    def provider(self) -> str:
        return "lkbus-sim"

    @property
    def calls(self) -> list[FakeLLMCall]:
        """Every `chat()` call so far, oldest first."""
        return list(self._calls)

    def script(self, *replies: FakeReply | str) -> None:
        """Queue replies for the next calls."""
        self._queue.extend(_as_reply(r) for r in replies)

    def reply_with_tool(self, name: str, text_after: str | None = None, **arguments: Any) -> None:
        """Queue a call to tool `name`, then (if given) the text spoken once it returns."""
        self._queue.append(FakeReply(tool_calls=(FakeToolCall(name, dict(arguments)),)))
        if text_after is not None:
            self._queue.append(FakeReply(text=text_after))

    def fail_next(self, error: Exception | None = None) -> None:
        """Make the next call raise (a non-retryable `APIError` by default)."""
        self._queue.append(FakeReply(error=error or APIError("fake llm failure", retryable=False)))

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> FakeLLMStream:
        tools = tools or []
        self._calls.append(
            FakeLLMCall(
                chat_ctx=chat_ctx.copy(),
                tool_names=tuple(_tool_name(t) for t in tools),
            )
        )
        reply = self._next_reply(chat_ctx)
        return FakeLLMStream(
            self,
            chat_ctx=chat_ctx,
            tools=tools,
            conn_options=conn_options,
            reply=reply,
            delay=self._delay if reply.delay is None else reply.delay,
        )

    def _next_reply(self, chat_ctx: llm.ChatContext) -> FakeReply:
        if self._queue:
            return self._queue.popleft()
        if self._responder is not None:
            answer = self._responder(chat_ctx)
            if answer is not None:
                return _as_reply(answer)
        items = chat_ctx.items
        if self._after_tool_reply is not None and items and isinstance(items[-1], llm.FunctionCallOutput):
            return FakeReply(text=self._after_tool_reply)
        return FakeReply(text=self._default_reply)


class FakeLLMStream(llm.LLMStream):
    """Streams one `FakeReply` as word chunks, tool calls, then usage."""

    def __init__(
        self,
        fake_llm: FakeLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
        reply: FakeReply,
        delay: float,
    ) -> None:
        super().__init__(fake_llm, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._reply = reply
        self._delay = delay

    async def _run(self) -> None:
        request_id = utils.shortuuid("fake_llm_")
        if self._delay > 0:
            await asyncio.sleep(self._delay)
        if self._reply.error is not None:
            raise self._reply.error

        words = self._reply.text.split(" ") if self._reply.text else []
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            self._event_ch.send_nowait(
                llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant", content=piece))
            )
            # yield so the pipeline sees a stream, not a single burst
            await asyncio.sleep(0)

        if self._reply.tool_calls:
            self._event_ch.send_nowait(
                llm.ChatChunk(
                    id=request_id,
                    delta=llm.ChoiceDelta(
                        role="assistant",
                        tool_calls=[
                            llm.FunctionToolCall(
                                name=call.name,
                                arguments=json.dumps(call.arguments),
                                call_id=utils.shortuuid("call_"),
                            )
                            for call in self._reply.tool_calls
                        ],
                    ),
                )
            )

        prompt_tokens = sum(len(t.split()) for t in _all_texts(self._chat_ctx))
        completion_tokens = len(words) + len(self._reply.tool_calls)
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=request_id,
                usage=llm.CompletionUsage(
                    completion_tokens=completion_tokens,
                    prompt_tokens=prompt_tokens,
                    total_tokens=prompt_tokens + completion_tokens,
                ),
            )
        )


def _as_reply(reply: FakeReply | str) -> FakeReply:
    return FakeReply(text=reply) if isinstance(reply, str) else reply


def _tool_name(tool: llm.Tool) -> str:
    return tool.id


def _all_texts(chat_ctx: llm.ChatContext) -> list[str]:
    return [
        text
        for item in chat_ctx.items
        if isinstance(item, llm.ChatMessage) and (text := item.text_content) is not None
    ]
