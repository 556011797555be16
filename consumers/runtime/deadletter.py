"""Dead letters: the original record plus headers that say where it came from and why it failed.

The header names follow Kafka Connect's `__connect.errors.*` context headers.
"""

from __future__ import annotations

from collections.abc import Sequence

HEADER_PREFIX = "lkbus.error."
MAX_MESSAGE_BYTES = 2000


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]],
    *,
    topic: str,
    partition: int,
    offset: int,
    consumer: str,
    error: BaseException,
    reason: str | None = None,
) -> list[tuple[str, bytes]]:
    """The original headers followed by the error context headers."""
    context = {
        "topic": topic,
        "partition": str(partition),
        "offset": str(offset),
        "consumer": consumer,
        "class": error.__class__.__name__,
        "message": str(error)[:MAX_MESSAGE_BYTES],
    }
    if reason is not None:
        context["reason"] = reason
    kept = [(k, v) for k, v in original if not k.startswith(HEADER_PREFIX)]
    return kept + [(HEADER_PREFIX + k, v.encode()) for k, v in context.items()]


def error_context(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """The error context of a dead letter, by name without the prefix."""
    return {k.removeprefix(HEADER_PREFIX): v.decode() for k, v in headers if k.startswith(HEADER_PREFIX)}
