"""The DuckDB store: idempotent upserts, filters, read-only opening and clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from consumers.analytics import (
    AnalyticsStore,
    DuckDBStore,
    Rollups,
    SessionSummary,
    StoreError,
    StoreNotFoundError,
    fold_session,
)
from consumers.analytics.rollups import RollupRow
from tests.unit.consumers.analytics.scripted import T0, Script, conversation


def _summaries() -> list[SessionSummary]:
    return [
        fold_session(conversation("s1").events),
        fold_session(conversation("s2", start=T0 + timedelta(hours=1)).events),
        fold_session(conversation("s3", agent="sales", start=T0 + timedelta(hours=2)).events),
    ]


def _rollup_rows() -> list[RollupRow]:
    rollups = Rollups()
    for script in (conversation("s1"), conversation("s3", agent="sales")):
        for ev in script.events:
            rollups.add(ev)
    return rollups.flush()


def _tables(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        sessions = conn.execute("SELECT * FROM sessions ORDER BY session_id").fetchall()
        rollups = conn.execute("SELECT * FROM rollups ORDER BY agent_name, window_start").fetchall()
    return sessions, rollups


def test_upserts_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "a" / "analytics.duckdb"
    summaries, rows = _summaries(), _rollup_rows()
    with DuckDBStore(path) as store:
        assert store.upsert_sessions(summaries) == 3
        assert store.upsert_rollups(rows) == len(rows)
    first = _tables(path)
    with DuckDBStore(path) as store:
        store.upsert_sessions(summaries)
        store.upsert_rollups(rows)
        store.upsert_sessions([])
    assert _tables(path) == first
    assert len(first[0]) == 3
    assert len(first[1]) == len(rows)


def test_a_newer_summary_replaces_the_older(tmp_path: Path) -> None:
    events = conversation("s1").events
    with DuckDBStore(tmp_path / "db.duckdb") as store:
        store.upsert_sessions([fold_session(events[:10])])
        store.upsert_sessions([fold_session(events)])
        (stored,) = store.sessions()
    assert stored == fold_session(events)
    assert stored.status == "ended"


def test_reads_round_trip_and_filter(tmp_path: Path) -> None:
    summaries, rows = _summaries(), _rollup_rows()
    store: AnalyticsStore = DuckDBStore(tmp_path / "db.duckdb")
    store.upsert_sessions(summaries)
    store.upsert_rollups(rows)
    assert store.sessions() == summaries
    assert store.rollups() == sorted(rows, key=lambda r: (r.window_start, r.agent_name))
    assert [s.session_id for s in store.sessions(since=T0 + timedelta(minutes=30))] == ["s2", "s3"]
    assert [s.session_id for s in store.sessions(until=T0 + timedelta(hours=1))] == ["s1"]
    assert [s.session_id for s in store.sessions(agent="sales")] == ["s3"]
    assert {r.agent_name for r in store.rollups(agent="sales")} == {"sales"}
    assert store.rollups(since=T0 + timedelta(days=1)) == []
    store.close()


def test_memory_store() -> None:
    with DuckDBStore(":memory:") as store:
        store.upsert_sessions(_summaries()[:1])
        assert len(store.sessions()) == 1


def test_read_only_errors_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="no analytics database at"):
        DuckDBStore(tmp_path / "missing.duckdb", read_only=True)
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with (
        DuckDBStore(other, read_only=True) as store,
        pytest.raises(StoreError, match="not an analytics database"),
    ):
        store.sessions()
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_text("not a database")
    with pytest.raises(StoreError, match="cannot open"):
        DuckDBStore(garbage, read_only=True)


def test_agent_name_falls_back_to_the_started_payload() -> None:
    with DuckDBStore(":memory:") as store:
        store.upsert_sessions([fold_session(Script("x", agent=None).started().events)])
        (s,) = store.sessions()
    assert s.agent_name == "unknown"


def test_window_folds_written_apart_merge_into_the_whole(tmp_path: Path) -> None:
    """Two instances (or one before and after a crash) each store the part of a window they saw."""
    scripts = [conversation("s1"), conversation("s2"), conversation("s3", agent="sales")]
    whole = Rollups()
    parts = [Rollups(), Rollups()]
    for i, script in enumerate(scripts):
        for ev in script.events:
            whole.add(ev)
            parts[i % 2].add(ev)
            if i == 0:
                parts[1].add(ev)  # seen by both: a duplicate across instances
    expected = whole.flush()
    path = tmp_path / "analytics.duckdb"
    with DuckDBStore(path) as store:
        first = store.merge_rollups(parts[0].flush_windows())
        assert first != expected, "one part alone is partial"
        store.merge_rollups(parts[1].flush_windows())
        assert store.rollups() == expected
    with DuckDBStore(path) as store:
        again = Rollups()
        for ev in scripts[1].events:
            again.add(ev)
        store.merge_rollups(again.flush_windows())  # a re-delivered part changes nothing
        assert store.rollups() == expected
        assert store.merge_rollups([]) == []


def test_rows_are_written_in_each_tables_column_order() -> None:
    from consumers.analytics.store import _COLUMNS

    store = DuckDBStore(":memory:")
    try:
        for table, columns in _COLUMNS.items():
            described = store._conn.execute(f"DESCRIBE {table}").fetchall()
            assert tuple(row[0] for row in described) == columns
    finally:
        store.close()
