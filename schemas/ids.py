"""Time-sortable unique event ids (UUIDv7, RFC 9562, monotonic within a process)."""

from __future__ import annotations

import os
import random
import threading
import time

_RAND_A_MAX = 0xFFF
_lock = threading.Lock()
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)
_last_ms = 0
_counter = 0


def uuid7() -> str:
    """Return a new UUIDv7 string; ids from one process sort in creation order.

    The 12-bit ``rand_a`` field is a counter seeded randomly each millisecond
    (RFC 9562 method 1), the 62 ``rand_b`` bits are random (a per-process generator
    seeded from the OS and re-seeded after fork: unique, not secret).
    """
    global _last_ms, _counter
    rand = _rng.getrandbits(73)
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = rand >> 62
        else:
            _counter += 1
            if _counter > _RAND_A_MAX:
                _last_ms += 1
                _counter = rand >> 62
        ms, counter = _last_ms, _counter
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62
    h = f"{value | (rand & 0x3FFF_FFFF_FFFF_FFFF):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
