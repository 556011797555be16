"""Pace the Kafka client's metadata refreshes.

While a partition it holds a batch for has no leader (a broker shutting down or gone), aiokafka's
sender asks for fresh metadata and waits only for that answer, which comes at once when the
broker refuses the connection: without a pause between asks, that loop takes a whole core of
the agent's process for as long as the batch waits. Paced, a refresh starts at most once per
interval; asks in between share one delayed refresh.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

METADATA_PACE_S = 0.2
"""The shortest time between two metadata refreshes of the publisher's Kafka client."""


def pace_metadata_updates(client: Any, interval_s: float = METADATA_PACE_S) -> None:
    """Make `client.force_metadata_update` (an aiokafka client's) start a refresh at most once
    per `interval_s`; a call within the interval returns a future done once the next refresh
    has completed (callers then look at the metadata again, as after any refresh)."""
    force: Callable[[], Awaitable[Any]] = client.force_metadata_update
    last = -math.inf
    pending: asyncio.Task[None] | None = None

    async def refresh_later(delay: float) -> None:
        nonlocal last
        await asyncio.sleep(delay)
        last = time.monotonic()
        await force()

    def paced() -> Awaitable[Any]:
        nonlocal last, pending
        if pending is not None and not pending.done():
            return asyncio.shield(pending)
        now = time.monotonic()
        if now - last >= interval_s:
            last = now
            return force()
        pending = asyncio.get_running_loop().create_task(refresh_later(last + interval_s - now))
        return asyncio.shield(pending)

    client.force_metadata_update = paced
