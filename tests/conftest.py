"""Fixtures for every test."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def garbage_collector_as_it_was() -> Iterator[None]:
    """The CLIs tune the garbage collector of the process they run in (lkbus/gc_tuning.py);
    tests run them in-process, so each test gets the collector back as it found it."""
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()
