"""Metadata refreshes of the publisher's Kafka client start at most once per interval."""

from __future__ import annotations

import asyncio
from typing import Any

from producers.metadata_pacing import pace_metadata_updates


class CountingClient:
    """Stands in for aiokafka's client: counts the refreshes started."""

    def __init__(self) -> None:
        self.refreshes = 0

    def force_metadata_update(self) -> asyncio.Future[bool]:
        self.refreshes += 1
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        done.set_result(False)  # a broker that refuses the connection answers at once
        return done


async def test_asks_in_a_tight_loop_start_one_refresh_per_interval() -> None:
    client = CountingClient()
    pace_metadata_updates(client, interval_s=0.5)
    ask: Any = client.force_metadata_update
    await ask()  # the first starts a refresh at once
    assert client.refreshes == 1
    waiting = [ask() for _ in range(100)]  # as aiokafka's sender does while a leader is missing
    assert client.refreshes == 1, "asks within the interval share one delayed refresh"
    await asyncio.gather(*waiting)
    assert client.refreshes == 2, "the delayed refresh started once the interval was over"


async def test_a_paced_ask_is_answered_when_its_refresh_is_done() -> None:
    """aiokafka looks at the metadata again when the ask is answered (e.g. for a topic it sends
    to for the first time); answered before the refresh ends, it would wait and ask again."""
    client = CountingClient()
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    force = client.force_metadata_update
    client.force_metadata_update = lambda: answer if client.refreshes else force()  # type: ignore[method-assign]
    pace_metadata_updates(client, interval_s=0.05)
    ask: Any = client.force_metadata_update
    await ask()
    waiting = ask()
    await asyncio.sleep(0.2)
    assert not waiting.done(), "the delayed refresh started but has not answered"
    answer.set_result(True)
    assert await waiting is None


async def test_a_caller_cancelled_while_waiting_leaves_the_shared_refresh_alone() -> None:
    client = CountingClient()
    pace_metadata_updates(client, interval_s=0.2)
    ask: Any = client.force_metadata_update
    await ask()
    first, second = ask(), ask()
    first.cancel()
    await second
    assert client.refreshes == 2
