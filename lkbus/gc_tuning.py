"""Garbage-collector settings for a process that reads records in batches (consumers, replay).

With CPython's default young-generation threshold (700 allocations), one batch of 500 records
triggers a dozen collections, and each promotes the batch's live objects towards the old
generation, whose full collections then scan them again. A threshold of 10,000 lets a batch's
objects die before a collection sees them; freezing what start-up allocated (modules, clients,
settings) keeps full collections from scanning it at all, as livekit-agents does in its job
processes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


def tune_for_batches() -> None:
    """Freeze the objects alive now and raise the young-generation threshold (process-wide)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


@contextmanager
def tuned_for_batches() -> Iterator[None]:
    """`tune_for_batches` until the block ends, then the settings as they were (tests, benchmarks)."""
    before = gc.get_threshold()
    tune_for_batches()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
