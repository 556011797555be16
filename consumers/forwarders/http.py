"""The HTTP forwarder: selected events to a webhook as signed CloudEvents (structured JSON mode).

`lkbus consume http-forwarder`. Each selected event is POSTed with
`Content-Type: application/cloudevents+json`, an `Idempotency-Key` and, when a secret is set,
`X-Lkbus-Signature` (see `consumers.forwarders.signing`). `handle` returns only when the
endpoint acknowledged every selected record of the batch with a 2xx, so the runtime commits
only what was delivered: a restart re-sends at most the batch in flight, never loses one.
The CloudEvents `id` is the event id, so receivers deduplicate re-sends.

Failures: 5xx, 408, 429, timeouts and connection errors are tried `max_attempts` times with
backoff (honouring `Retry-After`), then raised as `EndpointUnavailableError` (retriable: the
runtime retries, then dead-letters); other 4xx raise `EndpointRejectedError` (dead-lettered).
Records of one session are sent one by one in order; sessions go in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from email.utils import parsedate_to_datetime

import httpx

from consumers.forwarders.cloudevent import STRUCTURED_CONTENT_TYPE, encode_cloudevent
from consumers.forwarders.exceptions import (
    EndpointRejectedError,
    EndpointUnavailableError,
    ForwarderSettingsError,
)
from consumers.forwarders.selection import Selector
from consumers.forwarders.settings import HttpForwarderSettings, http_settings, source_topics
from consumers.forwarders.signing import SIGNATURE_HEADER, sign
from consumers.runtime import ConsumerContext, EventConsumer, Incoming
from lkbus.settings import Settings
from schemas import Event

logger = logging.getLogger("lkbus.consumers.forwarders.http")

RETRIABLE_STATUSES = frozenset({408, 429})
"""4xx statuses that may pass; every 5xx is retried too."""
_DELIVERED_MEMORY = 50_000


def is_retriable_status(status: int) -> bool:
    """Whether a response status is worth another attempt."""
    return status >= 500 or status in RETRIABLE_STATUSES


def redacted_url(url: httpx.URL) -> str:
    """Scheme, host, port and path: no user info or query (they may hold tokens)."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def quiet_httpx_request_log() -> None:
    """httpx logs every request's full URL at INFO, query string (tokens) included: keep it to warnings.

    Left alone when the operator set the `httpx` logger's level explicitly.
    """
    httpx_logger = logging.getLogger("httpx")
    if httpx_logger.level == logging.NOTSET:
        httpx_logger.setLevel(logging.WARNING)


class HttpForwarder(EventConsumer):
    """`lkbus consume http-forwarder` (settings `LKBUS_FORWARD_HTTP__*`)."""

    name = "http-forwarder"

    def __init__(
        self,
        settings: HttpForwarderSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`settings` default to the environment (read at start).

        To run a second forwarder in its own consumer group, subclass with another `name`.
        """
        self._given = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._delivered: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self.delivered = 0
        """Events the endpoint acknowledged (re-sends included)."""

    def config(self, settings: Settings) -> HttpForwarderSettings:
        """The forwarder's settings (given, from `settings`, or from the environment)."""
        if self._given is None:
            self._given = http_settings(settings)
        return self._given

    def subscriptions(self, settings: Settings) -> list[str]:
        return source_topics(self.config(settings), settings.topics)

    async def start(self, context: ConsumerContext) -> None:
        await super().start(context)
        config = self.config(context.settings)
        if config.url is None:
            raise ForwarderSettingsError(
                "set LKBUS_FORWARD_HTTP__URL to the endpoint that receives the events"
            )
        self.selector = Selector.of(config.types, config.agents, config.filter)
        self.url = httpx.URL(config.url)
        self.secret = config.secret.get_secret_value().encode() if config.secret else None
        if self.secret is None:
            logger.warning("http-forwarder: no LKBUS_FORWARD_HTTP__SECRET, requests are not signed")
        self._headers = {
            "Content-Type": STRUCTURED_CONTENT_TYPE,
            "User-Agent": "lkbus-http-forwarder",
            **{k: v.get_secret_value() for k, v in config.headers.items()},
        }
        self._semaphore = asyncio.Semaphore(config.concurrency)
        quiet_httpx_request_log()
        self._client = httpx.AsyncClient(
            timeout=config.timeout_s,
            verify=config.verify_tls,
            transport=self._transport,
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=config.concurrency, max_keepalive_connections=config.concurrency
            ),
        )
        logger.info("http-forwarder %s: forwarding to %s", self.name, redacted_url(self.url))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def handle(self, batch: Sequence[Incoming]) -> None:
        by_session: dict[str, list[Incoming]] = {}
        for record in batch:
            if self._already_delivered(record) or not self.selector(record.event):
                continue
            by_session.setdefault(record.event.session_id, []).append(record)
        if not by_session:
            return
        if len(by_session) == 1:
            await self._deliver_session(next(iter(by_session.values())))
            return
        results = await asyncio.gather(
            *(self._deliver_session(records) for records in by_session.values()), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if not errors:
            return
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # cancellation
        # A record that can never go through decides: the runtime then isolates records one by one.
        rejected = [e for e in errors if not isinstance(e, EndpointUnavailableError)]
        raise (rejected or errors)[0]

    async def _deliver_session(self, records: list[Incoming]) -> None:
        async with self._semaphore:
            for record in records:
                await self.deliver(record.event)
                self._remember(record)

    def _already_delivered(self, record: Incoming) -> bool:
        return (record.topic, record.partition, record.offset) in self._delivered

    def _remember(self, record: Incoming) -> None:
        """Records delivered in this process: a retried batch does not send them again."""
        self._delivered[(record.topic, record.partition, record.offset)] = None
        if len(self._delivered) > _DELIVERED_MEMORY:
            self._delivered.popitem(last=False)

    async def deliver(self, event: Event) -> None:
        """POST one event until a 2xx; raise after `max_attempts` or on a refusal."""
        client = self._client
        assert client is not None, "the forwarder is not started"
        config = self._given
        assert config is not None
        body = encode_cloudevent(event)
        delay = config.backoff_s
        where = redacted_url(self.url)
        failure = ""
        for attempt in range(1, config.max_attempts + 1):
            headers = dict(self._headers)
            headers["Idempotency-Key"] = event.id
            if self.secret is not None:
                headers[SIGNATURE_HEADER] = sign(body, self.secret)
            retry_after: float | None = None
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx.TimeoutException as exc:
                failure = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                failure = f"could not be reached ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                reason = response.reason_phrase
                if not is_retriable_status(status):
                    raise EndpointRejectedError(
                        f"endpoint {where} refused the event: {status} {reason}", status
                    )
                failure = f"answered {status} {reason}"
                retry_after = _retry_after(response.headers.get("Retry-After"))
            logger.info(
                "http-forwarder: endpoint %s (attempt %d of %d)", failure, attempt, config.max_attempts
            )
            if attempt < config.max_attempts:
                wait = retry_after if retry_after is not None else delay
                await asyncio.sleep(min(wait, config.max_backoff_s))
                delay *= 2
        raise EndpointUnavailableError(f"endpoint {where} {failure} after {config.max_attempts} attempts")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())
