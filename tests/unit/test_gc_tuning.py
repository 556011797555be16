"""The garbage-collector settings of batch-reading processes."""

from __future__ import annotations

import gc

from lkbus.gc_tuning import YOUNG_THRESHOLD, tuned_for_batches


def test_tuning_freezes_the_heap_raises_the_young_threshold_and_is_undone() -> None:
    before = gc.get_threshold()
    survivor: object = type("Survivor", (), {})()
    with tuned_for_batches():
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
        assert not any(o is survivor for o in gc.get_objects())  # frozen: out of the collector's sight
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert any(o is survivor for o in gc.get_objects())
