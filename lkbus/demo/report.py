"""What the demo shows at the end: the analytics report, one inactive session replayed, the checks."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from consumers.analytics.report import agent_rows, report_tables
from consumers.analytics.store import DuckDBStore
from consumers.archival.cli import archive_table
from consumers.archival.reader import summarize
from lkbus.replay.timeline import TimelineRenderer
from lkbus.topic_reader import read_topics
from schemas import DecodeError, Event, decode
from schemas.payloads.commands_v1 import CommandExecutedV1

if TYPE_CHECKING:
    from lkbus.demo.run import DemoRun

QUIET_TYPES = ("metrics_collected", "session_usage_updated", "user_input_transcribed")


async def print_report(run: DemoRun, console: Console) -> bool:
    """Print the report; returns whether every check passed."""
    settings = run.settings
    records = await read_topics(settings.kafka, list(settings.topics.event_topics))
    events: list[Event] = []
    undecodable = 0
    for record in records:
        try:
            events.append(decode(record.value, record.headers))
        except DecodeError:
            undecodable += 1

    console.rule("analytics (from the analytics consumer's DuckDB store)")
    with DuckDBStore(settings.analytics.db_path, read_only=True) as store:
        summaries = store.sessions()
    for table in report_tables(agent_rows(summaries)):
        console.print(table)

    console.rule("archive (written by the archival consumer)")
    archived = summarize(settings.archival.root)
    console.print(archive_table(archived))
    archived_records = sum(s.records for s in archived)

    silent = next((s for s in run.sessions if s.scenario.closed_by_inactivity), None)
    if silent is not None:
        console.rule(f"replay of inactive session {silent.session_id}")
        renderer = TimelineRenderer(show_session=False)
        for event in sorted(
            (e for e in events if e.session_id == silent.session_id), key=lambda e: e.seq or 0
        ):
            if not event.type.endswith(QUIET_TYPES):
                for line in renderer.render(event):
                    console.print(line, highlight=False, markup=False)
        console.print(
            f"(all of it, with the broker running: LKBUS_TOPICS__PREFIX={settings.topics.prefix} "
            f"lkbus replay --session {silent.session_id})",
            highlight=False,
            markup=False,
        )

    executed = Counter(
        (e.session_id, e.data.command_type) for e in events if isinstance(e.data, CommandExecutedV1)
    )
    summarised = {s.session_id for s in summaries}
    silent_sessions = [s for s in run.sessions if s.scenario.closed_by_inactivity]
    closed_by_us = sum(executed[(s.session_id, "close_session")] for s in silent_sessions)
    prompts_executed = sum(n for (_, kind), n in executed.items() if kind == "prompt_user")
    inactivity = run.consumers["inactivity"]
    sent = Counter(type(action).__name__ for action in getattr(inactivity, "sent", []))
    checks = [
        (
            "every session ran",
            all(s.state == "closed" for s in run.sessions),
            ", ".join(f"{s.session_id}: {s.error}" for s in run.sessions if s.error)
            or f"{len(run.sessions)} closed",
        ),
        (
            "every session summarised",
            summarised >= {s.session_id for s in run.sessions},
            f"{len(summarised)} of {len(run.sessions)} in the store",
        ),
        (
            "prompts sent and executed",
            prompts_executed > 0,
            f"{sent['Prompt']} prompts and {sent['Close']} closes sent; {prompts_executed} prompts executed",
        ),
        (
            "silent sessions closed by the inactivity consumer",
            all(
                executed[(s.session_id, "close_session")] == 1 and s.log.of("close") for s in silent_sessions
            ),
            f"{closed_by_us} of {len(silent_sessions)}",
        ),
        ("every record decodes", undecodable == 0, f"{len(records)} records, {undecodable} undecodable"),
        (
            "every record archived, exactly once",
            archived_records == len(records),
            f"{archived_records} archived, {len(records)} in the topics",
        ),
    ]
    console.rule("checks")
    table = Table(show_header=False, box=None)
    for name, ok, detail in checks:
        table.add_row("[green]✓[/]" if ok else "[red]✗[/]", name, detail)
    console.print(table)

    console.rule("where everything lives")
    places = Table(show_header=False, box=None)
    places.add_row("Kafka", settings.kafka.bootstrap_servers)
    places.add_row("topics", ", ".join(settings.topics.event_topics) + f" (prefix {settings.topics.prefix})")
    places.add_row("archive", f"{settings.archival.root}  (lkbus archive ls --root ...)")
    places.add_row("analytics store", f"{settings.analytics.db_path}  (lkbus analytics report --db ...)")
    places.add_row("spill journal", str(settings.publisher.journal_dir))
    places.add_row("run folder", str(run.folder))
    console.print(places)
    return all(ok for _, ok, _ in checks)
