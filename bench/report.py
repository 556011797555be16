"""Rows of the benchmark table, and the median-of-runs helper every benchmark uses."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BenchRow:
    """One figure beside its same-run baseline; `ratio` is ours / baseline."""

    name: str
    ours: float
    baseline: float
    unit: str
    baseline_name: str = "bare baseline"
    target: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")

    @classmethod
    def from_mapping(cls, row: Mapping[str, object]) -> BenchRow:
        """Accept the plain-dict rows some benchmarks return."""
        return cls(
            name=str(row["name"]),
            ours=float(row["ours"]),  # type: ignore[arg-type]
            baseline=float(row["baseline"]),  # type: ignore[arg-type]
            unit=str(row["unit"]),
            baseline_name=str(row.get("baseline_name", "bare baseline")),
            target=str(row.get("target", "")),
        )


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """The median of `runs` measurements (the machine is shared and noisy)."""
    return statistics.median(measure() for _ in range(runs))


def medians_interleaved(runs: int, *measures: Callable[[], float]) -> list[float]:
    """The median of each measure over `runs` rounds, the measures taking turns in each round,
    so that a slow spell of the shared machine hits every figure alike."""
    samples: list[list[float]] = [[] for _ in measures]
    for _ in range(runs):
        for taken, measure in zip(samples, measures, strict=True):
            taken.append(measure())
    return [statistics.median(taken) for taken in samples]
