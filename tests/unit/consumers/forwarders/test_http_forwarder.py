"""The HTTP forwarder against an in-process transport: headers, retries, refusals, order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import httpx
import orjson
import pytest

from consumers.forwarders import (
    EndpointRejectedError,
    EndpointUnavailableError,
    ForwarderSettingsError,
    HttpForwarder,
    HttpForwarderSettings,
    verify_signature,
)
from consumers.forwarders.signing import SIGNATURE_HEADER
from consumers.runtime import ConsumerContext, Incoming
from lkbus.settings import Settings
from tests.unit.consumers.forwarders.samples import ended, incoming, started

SECRET = "unit-test-secret-0123456789"
URL = "http://hook.test/events?token=query-token-xyz"

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


async def _publish(topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
    raise AssertionError("the forwarder publishes nothing itself")


async def forwarder(handler: Handler, **overrides: Any) -> HttpForwarder:
    options: dict[str, Any] = {"url": URL, "secret": SECRET, "backoff_s": 0, "max_attempts": 3, **overrides}
    fw = HttpForwarder(HttpForwarderSettings(**options), transport=httpx.MockTransport(handler))
    await fw.start(ConsumerContext("http-forwarder", Settings(), _publish, lambda: True))
    return fw


class Endpoint:
    """Records requests; answers with the scripted statuses, then 200."""

    def __init__(self, *statuses: int | type[Exception], headers: dict[str, str] | None = None) -> None:
        self.script = list(statuses)
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, type):
            raise step("scripted failure")
        return httpx.Response(step, headers=self.headers, text="secret-echo " + request.content.decode())

    def ids(self) -> list[str]:
        return [orjson.loads(r.content)["id"] for r in self.requests]


async def test_delivers_a_signed_cloudevent() -> None:
    endpoint = Endpoint()
    fw = await forwarder(endpoint)
    event = ended()
    await fw.handle([incoming(event)])
    await fw.stop()
    [request] = endpoint.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert request.headers["idempotency-key"] == event.id
    verify_signature(request.content, request.headers[SIGNATURE_HEADER], SECRET)
    assert orjson.loads(request.content)["id"] == event.id
    assert fw.delivered == 1


async def test_only_selected_events_go() -> None:
    endpoint = Endpoint()
    fw = await forwarder(endpoint, types=["ended"], filter="seq >= 3")
    await fw.handle([incoming(started(seq=1), 0), incoming(ended(seq=2), 1), incoming(ended(seq=3), 2)])
    assert [orjson.loads(r.content)["seq"] for r in endpoint.requests] == [3]


async def test_extra_headers_are_sent_and_unsigned_without_a_secret() -> None:
    endpoint = Endpoint()
    fw = await forwarder(endpoint, secret=None, headers={"Authorization": "Bearer t0k"})
    await fw.handle([incoming(ended())])
    [request] = endpoint.requests
    assert request.headers["authorization"] == "Bearer t0k"
    assert SIGNATURE_HEADER.lower() not in request.headers


@pytest.mark.parametrize("failure", [500, 503, 408, 429, httpx.ConnectError, httpx.ReadTimeout])
async def test_passing_failures_are_retried_with_the_same_id(failure: int | type[Exception]) -> None:
    endpoint = Endpoint(failure, failure)
    fw = await forwarder(endpoint)
    event = ended()
    await fw.handle([incoming(event)])
    assert endpoint.ids() == [event.id] * 3
    bodies = {r.content for r in endpoint.requests}
    assert len(bodies) == 1, "every attempt sends the same body"


async def test_a_failing_endpoint_raises_a_retriable_error_after_max_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = Endpoint(*[500] * 10)
    fw = await forwarder(endpoint, max_attempts=4)
    with pytest.raises(EndpointUnavailableError) as caught:
        await fw.handle([incoming(ended())])
    assert caught.value.retriable
    assert len(endpoint.requests) == 4
    message = str(caught.value)
    assert "500" in message
    assert "4 attempts" in message
    assert "query-token" not in message, "the query string may hold a token"
    for private in (SECRET, "query-token", "caller-7", "secret-echo", "s-1"):
        assert private not in caplog.text


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 413, 422, 301])
async def test_a_refusal_is_not_retried(status: int) -> None:
    endpoint = Endpoint(status)
    fw = await forwarder(endpoint)
    with pytest.raises(EndpointRejectedError) as caught:
        await fw.handle([incoming(ended())])
    assert not caught.value.retriable
    assert caught.value.status == status
    assert len(endpoint.requests) == 1
    assert "secret-echo" not in str(caught.value), "the response body is never echoed"


async def test_retry_after_is_honoured_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def fake_sleep(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr("consumers.forwarders.http.asyncio.sleep", fake_sleep)
    endpoint = Endpoint(429, 503, headers={"Retry-After": "7"})
    fw = await forwarder(endpoint, max_backoff_s=5, backoff_s=0.1)
    await fw.handle([incoming(ended())])
    assert waits == [5, 5]


async def test_backoff_doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def fake_sleep(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr("consumers.forwarders.http.asyncio.sleep", fake_sleep)
    endpoint = Endpoint(500, 500, 500)
    fw = await forwarder(endpoint, max_attempts=4, backoff_s=0.5, max_backoff_s=1.5)
    await fw.handle([incoming(ended())])
    assert waits == [0.5, 1.0, 1.5]


async def test_each_session_stays_in_order() -> None:
    endpoint = Endpoint()
    fw = await forwarder(endpoint, concurrency=4)
    batch: list[Incoming] = []
    for seq in range(1, 21):
        for session in ("a", "b", "c"):
            batch.append(incoming(ended(seq=seq, session_id=session), offset=len(batch)))
    await fw.handle(batch)
    sent = [orjson.loads(r.content) for r in endpoint.requests]
    assert len(sent) == 60
    for session in ("a", "b", "c"):
        assert [b["seq"] for b in sent if b["sessionid"] == session] == list(range(1, 21))


async def test_a_retried_batch_does_not_resend_what_was_acknowledged() -> None:
    failing = {"b"}

    async def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        seen.append(body["sessionid"])
        return httpx.Response(500 if body["sessionid"] in failing else 200)

    seen: list[str] = []
    fw = await forwarder(handler, max_attempts=1)
    batch = [incoming(ended(seq=1, session_id="a"), 0), incoming(ended(seq=1, session_id="b"), 1)]
    with pytest.raises(EndpointUnavailableError):
        await fw.handle(batch)
    failing.clear()
    seen.clear()
    await fw.handle(batch)
    assert seen == ["b"]


async def test_a_refusal_wins_over_a_passing_failure() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400 if orjson.loads(request.content)["sessionid"] == "a" else 503)

    fw = await forwarder(handler, max_attempts=1)
    batch = [incoming(ended(session_id="a"), 0), incoming(ended(session_id="b"), 1)]
    with pytest.raises(EndpointRejectedError):
        await fw.handle(batch)


async def test_starting_without_a_url_says_which_variable_to_set() -> None:
    fw = HttpForwarder(HttpForwarderSettings())
    with pytest.raises(ForwarderSettingsError, match="LKBUS_FORWARD_HTTP__URL"):
        await fw.start(ConsumerContext("http-forwarder", Settings(), _publish, lambda: True))


def test_subscriptions_default_to_the_event_topics() -> None:
    settings = Settings()
    assert HttpForwarder(HttpForwarderSettings()).subscriptions(settings) == list(
        settings.topics.event_topics
    )
    custom = HttpForwarder(HttpForwarderSettings(topics=["lk.session.events"]))
    assert custom.subscriptions(settings) == [settings.topics.name("lk.session.events")]
