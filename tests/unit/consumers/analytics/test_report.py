"""Reports (table, JSON, CSV), the plot, and the `analytics` CLI sub-app."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from consumers.analytics import (
    DuckDBStore,
    ReportError,
    ReportFormat,
    Rollups,
    SessionAccumulator,
    SessionSummary,
    agent_rows,
    fold_session,
    parse_time,
    plot_report,
    render_report,
)
from consumers.analytics.cli import analytics_app
from tests.unit.consumers.analytics.scripted import T0, Script, conversation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _idle_summary() -> SessionSummary:
    acc = SessionAccumulator()
    for ev in Script("idle", start=T0 + timedelta(minutes=5)).started().user(3.0, "listening", "away").events:
        acc.add(ev)
    return acc.summary(T0 + timedelta(hours=1), idle_timeout_s=60)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "analytics.duckdb"
    rollups = Rollups()
    scripts = [
        conversation("s1"),
        conversation("s2", start=T0 + timedelta(seconds=30)),
        conversation("s3", agent="sales"),
    ]
    for script in scripts:
        for ev in script.events:
            rollups.add(ev)
    with DuckDBStore(path) as store:
        store.upsert_sessions([fold_session(s.events) for s in scripts])
        store.upsert_sessions([_idle_summary()])
        store.upsert_rollups(rollups.flush())
    return path


def test_agent_rows(db: Path) -> None:
    with DuckDBStore(db, read_only=True) as store:
        rows = agent_rows(store.sessions())
    assert [r["agent"] for r in rows] == ["sales", "support"]
    support = rows[1]
    assert (support["sessions"], support["ended"], support["idle_timeout"], support["open"]) == (3, 2, 1, 0)
    assert support["away_episodes"] == 2 + 2 + 1
    assert (support["prompts"], support["prompts_user_returned"], support["prompts_session_closed"]) == (
        4,
        2,
        2,
    )
    assert (support["tool_calls"], support["tool_errors"], support["errors"]) == (4, 2, 2)
    assert support["closes"] == "idle_timeout=1;user_initiated=2"
    assert support["duration_max"] == pytest.approx(60.0)
    # response samples pooled over two sessions: 1.0, 1.5, 1.0 twice
    assert (support["response_p50"], support["response_p90"], support["response_max"]) == (1.0, 1.5, 1.5)
    assert support["llm_ttft_p50"] == 0.4


def test_report_formats(db: Path) -> None:
    with DuckDBStore(db, read_only=True) as store:
        rows = agent_rows(store.sessions())
    table = render_report(rows, ReportFormat.TABLE)
    assert "Sessions per agent" in table
    assert "Latency (seconds)" in table
    assert "user_initiated=2" in table
    parsed = orjson.loads(render_report(rows, ReportFormat.JSON))
    assert parsed == orjson.loads(orjson.dumps(rows))
    reader = list(csv.DictReader(io.StringIO(render_report(rows, ReportFormat.CSV))))
    assert [r["agent"] for r in reader] == ["sales", "support"]
    assert reader[1]["sessions"] == "3"
    assert reader[1]["response_p90"] == "1.5"
    assert render_report([], ReportFormat.TABLE) == "no sessions in this range\n"
    assert render_report([], ReportFormat.JSON).strip() == "[]"
    assert render_report([], ReportFormat.CSV) == "agent,sessions\n"


def test_parse_time() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert parse_time("90m", now=now) == now - timedelta(minutes=90)
    assert parse_time("2h", now=now) == now - timedelta(hours=2)
    assert parse_time("2026-01-05T10:00") == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert parse_time("2026-01-05T10:00+01:00") == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with pytest.raises(ReportError, match="--until 'yesterday': expected an ISO time"):
        parse_time("yesterday", option="--until")


def test_plot_writes_a_png(db: Path, tmp_path: Path) -> None:
    with DuckDBStore(db, read_only=True) as store:
        path = plot_report(store.sessions(), store.rollups(), tmp_path / "out" / "plot.png")
        without_rollups = plot_report(store.sessions(), [], tmp_path / "plain.png")
    for png in (path, without_rollups):
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert data[12:16] == b"IHDR"
        assert len(data) > 5_000
    with pytest.raises(ReportError, match="nothing to plot"):
        plot_report([], [], tmp_path / "empty.png")


def test_cli_report(db: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(analytics_app, ["report", "--db", str(db), "--format", "json", "--agent", "sales"])
    assert result.exit_code == 0, result.output
    assert [r["agent"] for r in orjson.loads(result.stdout)] == ["sales"]
    result = runner.invoke(
        analytics_app, ["report", "--db", str(db), "--format", "csv", "--since", "2026-01-05T12:04"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("support,1,0,1,0,")
    result = runner.invoke(analytics_app, ["report", "--db", str(db)])
    assert result.exit_code == 0
    assert "Sessions per agent" in result.stdout


def test_cli_plot(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    result = CliRunner().invoke(analytics_app, ["plot", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--db", "missing.duckdb"], "error: no analytics database at missing.duckdb"),
        (["report", "--since", "soon"], "error: --since 'soon': expected an ISO time"),
        (["plot", "--since", "1h"], "error: nothing to plot"),
    ],
)
def test_cli_errors_are_one_line(db: Path, tmp_path: Path, args: list[str], message: str) -> None:
    if "--db" not in args:
        args = [*args, "--db", str(db)]
    result = CliRunner().invoke(analytics_app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
