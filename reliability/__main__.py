"""`python -m reliability [--quick] [--minutes M] [--sessions N] [--only 1,2,...]`: run the fault suite.

Starts its own broker (free ports, data in a temporary folder), runs the scenarios in order, prints
the table, writes it to docs/reliability.md, stops every process it started (Ctrl-C included), and
exits 1 when a scenario lost, duplicated or reordered an event or failed a check.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from rich.console import Console

from reliability.cluster import Cluster, kill_children
from reliability.params import Params
from reliability.report import ScenarioResult, exit_code, markdown, print_table
from reliability.scenarios.base import Context

Scenario = Callable[[Context], Awaitable[ScenarioResult]]
NAMES = {
    1: "1. Load",
    2: "2. Kafka outage",
    3: "3. Broker killed",
    4: "4. Worker crash",
    5: "5. Consumer crashes",
    6: "6. Rebalance",
    7: "7. Bad input",
    8: "8. Journal disk full",
}


def scenarios() -> dict[int, Scenario]:
    from reliability.scenarios import bad_input, consumers, producer

    return {
        1: producer.load,
        2: producer.kafka_outage,
        3: producer.broker_killed,
        4: producer.worker_crash,
        5: consumers.consumer_crashes,
        6: consumers.rebalance,
        7: bad_input.bad_input,
        8: producer.disk_full,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--minutes", type=float, help="length of the load scenario (default 3)")
    parser.add_argument(
        "--sessions", type=int, help="concurrent sessions of the load scenarios (default 200)"
    )
    parser.add_argument("--outage-seconds", type=float, dest="outage_s", help="Kafka outage (default 60)")
    parser.add_argument("--kills", type=int, help="SIGKILLs of each consumer, at least (default 12)")
    parser.add_argument("--malformed", type=int, help="malformed records (default 10000)")
    parser.add_argument("--fuzz-examples", type=int, dest="fuzz_examples", help="hypothesis examples")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--only", help="comma-separated scenario numbers, e.g. 1,7")
    parser.add_argument("--output", type=Path, default=Path("docs/reliability.md"), help="Markdown table")
    parser.add_argument("--no-write", action="store_true", help="do not write the Markdown table")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (broker data, worker logs)")
    return parser.parse_args(argv)


def params_of(args: argparse.Namespace) -> Params:
    base = Params.quick() if args.quick else Params()
    return base.with_overrides(
        minutes=args.minutes,
        sessions=args.sessions,
        outage_s=args.outage_s,
        kills=args.kills,
        malformed=args.malformed,
        fuzz_examples=args.fuzz_examples,
        seed=args.seed,
    )


async def run(
    args: argparse.Namespace, params: Params, cluster: Cluster, console: Console
) -> list[ScenarioResult]:
    chosen = sorted(int(n) for n in args.only.split(",")) if args.only else sorted(NAMES)
    folder = cluster.folder
    results: list[ScenarioResult] = []
    console.print(f"[bold]starting the suite's broker[/bold] in {folder}")
    await cluster.start()
    try:
        context = Context(cluster, params, folder)
        table = scenarios()
        for number in chosen:
            console.rule(NAMES[number])
            started = time.monotonic()
            try:
                result = await table[number](context)
            except Exception as exc:  # noqa: BLE001 - one failing scenario must not hide the others
                result = ScenarioResult(NAMES[number], error=f"{exc.__class__.__name__}: {exc}")
                traceback.print_exc()
            result.duration_s = time.monotonic() - started
            console.print(f"{result.name}: [bold]{result.verdict.value}[/bold] in {result.duration_s:.0f} s")
            results.append(result)
    finally:
        kill_children()
        await asyncio.to_thread(cluster.stop)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Wide enough for the table's eleven columns, also when the output is not a terminal (make, CI).
    console = Console(width=max(shutil.get_terminal_size().columns, 180))
    folder = Path(tempfile.mkdtemp(prefix="lkbus-reliability-"))
    # SIGTERM ends the run like Ctrl-C: the finally blocks stop the broker and the children.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    params = params_of(args)
    cluster = Cluster(folder)
    started = time.monotonic()
    try:
        results = asyncio.run(run(args, params, cluster, console))
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: every process the suite started is stopped")
        return 130
    finally:
        kill_children()
        cluster.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            console.print(f"run folder kept: {folder}")
    print_table(results, console)
    console.print(f"total {time.monotonic() - started:.0f} s")
    if not args.no_write:
        command = "python -m reliability " + " ".join(sys.argv[1:] if argv is None else argv)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            markdown(
                results,
                when=datetime.now().astimezone(),
                parameters=params.as_dict(),
                cores=os.cpu_count() or 0,
                command=command.strip(),
            )
        )
        console.print(f"table written to {args.output}")
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
