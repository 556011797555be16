"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, checked against replays.

The sender adds ``X-Lkbus-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
``HMAC-SHA256(secret, "<t>." + body)``. A receiver verifies a request in four steps
(this is what `verify_signature` does; port it to any language):

1. Split the header on ``,`` into ``key=value`` pairs; take ``t`` and every ``v1``.
2. Reject the request when ``|now - t|`` exceeds a tolerance (300 s by default): a captured
   request cannot be replayed later.
3. Compute ``HMAC-SHA256(secret, f"{t}.".encode() + raw_body)`` on the raw bytes of the body,
   before any JSON parsing.
4. Accept when it equals one of the ``v1`` values, compared in constant time
   (``hmac.compare_digest``). Several ``v1`` values may appear while a secret is rotated.

Within the tolerance a request may still arrive twice (the forwarder retries): deduplicate by
the CloudEvents ``id``, which is the event id and never changes between attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from consumers.forwarders.exceptions import SignatureError

SIGNATURE_HEADER = "X-Lkbus-Signature"
DEFAULT_TOLERANCE_S = 300.0
_MAX_HEADER = 4096


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not key:
        raise SignatureError("the signing secret is empty")
    return key


def signature(body: bytes, secret: str | bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>." + body`."""
    return hmac.new(_key(secret), b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | bytes, *, timestamp: int | None = None) -> str:
    """The value of the `X-Lkbus-Signature` header for `body`, signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(body, secret, t)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str | bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> int:
    """Check a request's signature header; returns its timestamp, raises `SignatureError` if bad.

    `body` must be the raw request body. The timestamp must be within `tolerance_s` of `now`
    (either way), and one of the `v1` signatures must match.
    """
    if not header:
        raise SignatureError(f"no {SIGNATURE_HEADER} header")
    if len(header) > _MAX_HEADER:
        raise SignatureError("signature header is too long")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError("signature header is not a list of key=value pairs")
        if name == "t":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise SignatureError("signature timestamp is not unix seconds")
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("signature header has no timestamp (t=)")
    if not candidates:
        raise SignatureError("signature header has no v1 signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"signature timestamp is more than {tolerance_s:g} s away from now")
    expected = signature(body, secret, timestamp)
    if not any(hmac.compare_digest(expected, c) for c in candidates if c.isascii()):
        raise SignatureError("signature does not match the body and secret")
    return timestamp
