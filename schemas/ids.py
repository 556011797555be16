"""Time-sortable unique event ids (UUIDv7, RFC 9562, monotonic within a process)."""

from __future__ import annotations

import os
import random
import threading
import time

_RAND_A_MAX = 0xFFF
_RAND_B_MASK = 0x3FFF_FFFF_FFFF_FFFF
_VARIANT = 0b10 << 62
_LOW_48 = 0xFFFF_FFFF_FFFF
_lock = threading.Lock()
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)
_getrandbits = _rng.getrandbits
_time_ns = time.time_ns
_last_ms = 0
_counter = 0
_prefix = b""
"""``unix_ts_ms`` of ``_last_ms`` as the first 13 characters (``xxxxxxxx-xxxx-``)."""
_suffix = b""
"""The variant and the random ``rand_b`` of ``_last_ms``, as the last 18 characters."""

_RAND_A = [b"7%03x-" % counter for counter in range(_RAND_A_MAX + 1)]
"""The version nibble and the ``rand_a`` counter as hex, with the dash after them."""
_acquire = _lock.acquire
_release = _lock.release


def _new_millisecond(ms: int) -> int:
    """Start millisecond ``ms``: new prefix, new random ``rand_b``; returns the counter's seed."""
    global _last_ms, _prefix, _suffix
    rand = _getrandbits(73)
    h = b"%012x" % (ms & _LOW_48)
    _last_ms = ms
    _prefix = h[:8] + b"-" + h[8:] + b"-"
    _suffix = (_VARIANT | (rand & _RAND_B_MASK)).to_bytes(8, "big").hex("-", 6).encode()
    return rand >> 62


def uuid7_bytes() -> bytes:
    """A new UUIDv7 as ASCII bytes (what the encoder writes to the value and headers)."""
    global _counter
    _acquire()
    try:
        ms = _time_ns() // 1_000_000
        if ms > _last_ms:
            _counter = counter = _new_millisecond(ms)
        else:
            _counter = counter = _counter + 1
            if counter > _RAND_A_MAX:
                _counter = counter = _new_millisecond(_last_ms + 1)
        return _prefix + _RAND_A[counter] + _suffix
    finally:
        _release()


def uuid7() -> str:
    """Return a new UUIDv7 string; ids from one process sort in creation order.

    The 12-bit ``rand_a`` field is a counter seeded randomly each millisecond
    (RFC 9562 method 1); the 62 ``rand_b`` bits are drawn at random once per
    millisecond (a per-process generator seeded from the OS and re-seeded after fork:
    unique, not secret), so ids of one millisecond differ by the counter and ids of two
    processes by ``rand_b``.
    """
    return uuid7_bytes().decode("ascii")
