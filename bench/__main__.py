"""`make bench`: run every `bench/bench_*.py` and print one table of figures and ratios.

A benchmark module exposes `run()` or `run(kafka: BenchKafka)` returning rows
(`BenchRow` or dicts with name, ours, baseline, unit).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.report import BenchRow
from lkbus.broker.ephemeral import kafka_bootstrap


class BenchKafka:
    """Kafka for the benchmarks that need it, started on first use and stopped at the end."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._bootstrap: str | None = None

    @property
    def bootstrap(self) -> str:
        if self._bootstrap is None:
            self._bootstrap = self._stack.enter_context(kafka_bootstrap())[0]
        return self._bootstrap


@contextmanager
def bench_kafka() -> Iterator[BenchKafka]:
    with ExitStack() as stack:
        yield BenchKafka(stack)


def main(selected: list[str]) -> int:
    console = Console(width=200)
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    if selected:
        unknown = set(selected) - set(names)
        if unknown:
            console.print(
                f"[red]error:[/] no benchmark named {', '.join(sorted(unknown))}; have {', '.join(names)}"
            )
            return 2
        names = selected
    table = Table(
        "benchmark", "ours", "baseline", "unit", "ratio", "baseline is", "target", title="lkbus benchmarks"
    )
    with bench_kafka() as kafka:
        for name in names:
            console.print(f"running {name} ...")
            module = importlib.import_module(f"bench.{name}")
            run = module.run
            rows = run(kafka) if inspect.signature(run).parameters else run()
            for raw in rows:
                row = raw if isinstance(raw, BenchRow) else BenchRow.from_mapping(raw)
                table.add_row(
                    row.name,
                    f"{row.ours:,.2f}",
                    f"{row.baseline:,.2f}",
                    row.unit,
                    f"{row.ratio:.2f}x",
                    row.baseline_name,
                    row.target,
                )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
