"""`lkbus`: the command line. Each command is a thin layer over an async function."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from consumers.analytics.cli import analytics_app
from consumers.archival.cli import archive_app
from lkbus.broker import LocalBroker
from lkbus.errors import LkbusError
from lkbus.replay.cli import register as register_replay_commands
from lkbus.schemas_cli import schemas_app
from lkbus.settings import Settings, load_settings, redacted_dump
from lkbus.topics import create_topics, describe_topics, list_topics, project_topics

T = TypeVar("T")

app = typer.Typer(
    name="lkbus",
    help="LiveKit agent session events on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
broker_app = typer.Typer(help="The local Apache Kafka broker (KRaft, no Docker).", no_args_is_help=True)
topics_app = typer.Typer(help="The project's topics.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(topics_app, name="topics")
app.add_typer(analytics_app, name="analytics")
app.add_typer(archive_app, name="archive")
app.add_typer(schemas_app, name="schemas")
register_replay_commands(app)

out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(1)


def settings() -> Settings:
    """The effective settings, or exit 1 with what is wrong."""
    try:
        return load_settings()
    except LkbusError as exc:
        raise fail(str(exc)) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; a `LkbusError` becomes one error line and exit code 1."""
    try:
        return asyncio.run(coro)
    except LkbusError as exc:
        raise fail(str(exc)) from None


@app.command("config")
def config_command(
    markdown: Annotated[
        bool, typer.Option(help="Print the reference table of every setting instead.")
    ] = False,
) -> None:
    """Print the effective settings (secrets redacted)."""
    if markdown:
        from lkbus.settings_doc import settings_table

        print(settings_table(), end="")
        return
    out.print_json(json.dumps(redacted_dump(settings())))


@broker_app.command("start")
def broker_start() -> None:
    """Start the local broker (formats its storage on first use); harmless when it runs."""
    broker = LocalBroker(settings().broker)
    status = run(broker.start())
    out.print(f"broker running (pid {status.pid}) on [bold]{status.bootstrap}[/]")
    if getattr(status, "secure_bootstrap", None):
        out.print(f"SASL_SSL listener on {status.secure_bootstrap} (CA: {status.ca_file})", highlight=False)


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the local broker started from this folder and wait for it to exit."""
    stopped = LocalBroker(settings().broker).stop()
    out.print("broker stopped" if stopped else "broker was not running")


@broker_app.command("status")
def broker_status() -> None:
    """Whether the local broker runs, its pid, address and data folder; exit 3 when stopped."""
    status = LocalBroker(settings().broker).status()
    state = f"running (pid {status.pid})" if status.running else "stopped"
    out.print(f"{state}  bootstrap={status.bootstrap}  data={status.data_dir}", highlight=False)
    if not status.running:
        raise typer.Exit(3)


@broker_app.command("logs")
def broker_logs(
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="How many lines.")] = 40,
) -> None:
    """Print the end of the local broker's log."""
    out.print(LocalBroker(settings().broker).log_tail(lines), highlight=False, markup=False)


@topics_app.command("create")
def topics_create() -> None:
    """Create the project's topics (existing ones are left as they are)."""
    s = settings()
    created = run(create_topics(s.kafka, project_topics(s.topics)))
    for spec in project_topics(s.topics):
        out.print(f"{'created' if spec.name in created else 'exists '}  {spec.name}", highlight=False)


@topics_app.command("list")
def topics_list() -> None:
    """List the topics of the cluster."""
    for name in run(list_topics(settings().kafka)):
        out.print(name, highlight=False)


@topics_app.command("describe")
def topics_describe(
    names: Annotated[list[str] | None, typer.Argument(help="Topics (default: the project's).")] = None,
) -> None:
    """Partitions, replication and settings of topics."""
    s = settings()
    wanted = names or [spec.name for spec in project_topics(s.topics)]
    table = Table("topic", "partitions", "replication", "config")
    for topic in run(describe_topics(s.kafka, wanted)):
        config = ", ".join(f"{k}={v}" for k, v in sorted(topic.config.items()))
        table.add_row(topic.name, str(topic.partitions), str(topic.replication_factor), config)
    out.print(table)


@app.command("consume")
def consume_command(
    name: Annotated[
        str | None, typer.Argument(help="A known consumer (see --list) or package.module:attribute.")
    ] = None,
    list_consumers: Annotated[bool, typer.Option("--list", help="List the consumers known by name.")] = False,
    replay: Annotated[
        bool, typer.Option("--replay", help="Run over --from..--to of history; commit and send nothing.")
    ] = False,
    from_: Annotated[str | None, typer.Option("--from", help="With --replay: where to start.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="With --replay: where to stop.")] = None,
) -> None:
    """Run a consumer as a service until SIGTERM (commit after effect, dead letters, health)."""
    from consumers.registry import available, load_consumer
    from consumers.runtime import ConsumerService

    if list_consumers:
        for known, target in sorted(available().items()):
            out.print(f"{known:<20} {target}", highlight=False)
        return
    if name is None:
        raise fail("name a consumer (lkbus consume --list shows them) or give module:attribute")
    s = settings()
    try:
        consumer = load_consumer(name)
    except Exception as exc:  # noqa: BLE001 - a plugin may fail to import in any way
        raise fail(str(exc)) from None
    if replay:
        run(_replay_consumer(consumer, s, from_, to))
        return
    if from_ is not None or to is not None:
        raise fail("--from/--to go with --replay")
    run(ConsumerService(consumer, s).run())


async def _replay_consumer(consumer: Any, s: Settings, from_: str | None, to: str | None) -> None:
    from datetime import UTC, datetime

    from consumers.runtime.replay import replay_consumer
    from lkbus.replay.position import parse_position

    now = datetime.now(UTC)
    start = parse_position(from_, now=now, option="--from") if from_ else None
    stop = parse_position(to, now=now, option="--to") if to else None
    result = await replay_consumer(consumer, s, start=start, stop=stop)
    out.print(
        f"replayed {result.read} records through {consumer.name}: {result.handled} handled, "
        f"{result.failed} failed, {result.undecodable} undecodable, "
        f"{len(result.published)} records it would have sent (not sent)",
        highlight=False,
    )


@app.command("demo")
def demo_command(
    sessions: Annotated[int, typer.Option(min=1, max=200, help="Concurrent AgentSessions to simulate.")] = 20,
    bootstrap: Annotated[
        str | None, typer.Option(help="Use this Kafka instead of starting the local broker.")
    ] = None,
) -> None:
    """The whole system at work: broker, consumers, N REAL AgentSessions, then the report."""
    from lkbus.demo.run import run_demo

    if not run(run_demo(settings(), sessions=sessions, bootstrap=bootstrap, console=out)):
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the `lkbus` console script."""
    app()
