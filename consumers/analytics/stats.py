"""Nearest-rank percentiles: every reported value is one that was observed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from schemas.payloads.analytics_v1 import LatencyV1


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p * len(sorted_values) / 100))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class LatencyStats(BaseModel):
    """Count, p50, p90, p99 and max of a set of latencies in seconds."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> LatencyStats:
        """The statistics of ``values``."""
        ordered = sorted(values)
        if not ordered:
            return cls()
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p99=percentile(ordered, 99),
            max=ordered[-1],
        )


def latency(samples: Sequence[float]) -> LatencyV1:
    """The wire form of a distribution: its statistics plus the samples."""
    stats = LatencyStats.of(samples)
    return LatencyV1(
        count=stats.count, p50=stats.p50, p90=stats.p90, p99=stats.p99, max=stats.max, samples=list(samples)
    )
