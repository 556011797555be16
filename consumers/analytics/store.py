"""Where summaries and rollups are kept: a small interface and its DuckDB implementation.

Upserts are keyed by session id and by (agent name, window start), so writing the same
rows again (a replay after a restart) leaves the tables as they were. Times are stored
as naive UTC ``TIMESTAMP``s and read back as aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from consumers.analytics.exceptions import StoreError, StoreLockedError, StoreNotFoundError
from consumers.analytics.rollups import RollupRow, RollupWindow
from consumers.analytics.summary import SessionSummary

DEFAULT_DB_PATH = Path(".lkbus/analytics.duckdb")

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS sessions (
        session_id VARCHAR PRIMARY KEY,
        agent_name VARCHAR,
        status VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        ended_at TIMESTAMP NOT NULL,
        duration DOUBLE NOT NULL,
        close_reason VARCHAR,
        user_turns INTEGER NOT NULL,
        agent_replies INTEGER NOT NULL,
        interruptions INTEGER NOT NULL,
        away_episodes INTEGER NOT NULL,
        prompts INTEGER NOT NULL,
        summary VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS rollups (
        agent_name VARCHAR NOT NULL,
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        sessions_started INTEGER NOT NULL,
        sessions_ended INTEGER NOT NULL,
        concurrent_sessions INTEGER NOT NULL,
        away_episodes INTEGER NOT NULL,
        prompts INTEGER NOT NULL,
        closes VARCHAR NOT NULL,
        latency VARCHAR NOT NULL,
        PRIMARY KEY (agent_name, window_start)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS rollup_folds (
        agent_name VARCHAR NOT NULL,
        window_start TIMESTAMP NOT NULL,
        fold VARCHAR NOT NULL,
        PRIMARY KEY (agent_name, window_start)
    )
    """,
)


_COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": (
        "session_id",
        "agent_name",
        "status",
        "started_at",
        "ended_at",
        "duration",
        "close_reason",
        "user_turns",
        "agent_replies",
        "interruptions",
        "away_episodes",
        "prompts",
        "summary",
    ),
    "rollups": (
        "agent_name",
        "window_start",
        "window_end",
        "sessions_started",
        "sessions_ended",
        "concurrent_sessions",
        "away_episodes",
        "prompts",
        "closes",
        "latency",
    ),
    "rollup_folds": ("agent_name", "window_start", "fold"),
}
"""Each table's columns, in the order of its DDL above (and of the rows written to it)."""


class AnalyticsStore(Protocol):
    """Keeps session summaries and rollup rows; every write is an idempotent upsert."""

    def upsert_sessions(self, summaries: Iterable[SessionSummary]) -> int:
        """Insert or replace summaries by session id; returns how many were written."""
        ...

    def upsert_rollups(self, rows: Iterable[RollupRow]) -> int:
        """Insert or replace rows by (agent name, window start); returns how many were written."""
        ...

    def merge_rollups(self, windows: Iterable[RollupWindow]) -> list[RollupRow]:
        """Merge window folds into the stored ones and store the merged rows; returns them.

        Instances of one consumer group (or one instance before and after a crash) each
        write the part of a window they saw; the stored row is always that of the union.
        """
        ...

    def sessions(
        self, since: datetime | None = None, until: datetime | None = None, agent: str | None = None
    ) -> list[SessionSummary]:
        """Summaries of sessions started in [since, until), oldest first."""
        ...

    def rollups(
        self, since: datetime | None = None, until: datetime | None = None, agent: str | None = None
    ) -> list[RollupRow]:
        """Rows of windows starting in [since, until), oldest first."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _filters(
    column: str, since: datetime | None, until: datetime | None, agent: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append(f"{column} >= ?")
        params.append(_naive(since))
    if until is not None:
        clauses.append(f"{column} < ?")
        params.append(_naive(until))
    if agent is not None:
        clauses.append("agent_name = ?")
        params.append(agent)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class DuckDBStore:
    """An ``AnalyticsStore`` in one DuckDB file (``":memory:"`` for a throwaway one).

    ``read_only`` opens an existing file without taking the writer's lock, for reports.
    """

    def __init__(self, path: str | Path = DEFAULT_DB_PATH, *, read_only: bool = False) -> None:
        self.path = path
        memory = str(path) == ":memory:"
        if not memory:
            file = Path(path)
            if read_only and not file.exists():
                raise StoreNotFoundError(
                    f"no analytics database at {file}: run the analytics consumer first or pass --db"
                )
            if not read_only:
                file.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(str(path), read_only=read_only and not memory)
            if not read_only:
                for ddl in _DDL:
                    self._conn.execute(ddl)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"the analytics database {path} is open in another process: stop it or copy the file"
                ) from exc
            raise StoreError(f"cannot open the analytics database {path}: {exc}") from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the analytics database {path}: {exc}") from exc

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except duckdb.CatalogException as exc:
            raise StoreError(f"{self.path} is not an analytics database (no analytics tables)") from exc
        except duckdb.Error as exc:
            raise StoreError(f"analytics database query failed: {exc}") from exc

    def _write(self, table: str, rows: list[list[Any]]) -> int:
        """Insert or replace ``rows`` (in the table's column order) in one statement.

        The rows go to DuckDB as one Arrow table: binding each value as a statement parameter
        costs several times more per row.
        """
        if not rows:
            return 0
        columns = zip(*rows, strict=True)
        batch = pa.table({name: list(values) for name, values in zip(_COLUMNS[table], columns, strict=True)})
        try:
            self._conn.execute("BEGIN TRANSACTION")
            self._conn.register("lkbus_incoming_rows", batch)
            try:
                self._conn.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM lkbus_incoming_rows")
            finally:
                self._conn.unregister("lkbus_incoming_rows")
            self._conn.execute("COMMIT")
        except duckdb.Error as exc:
            self._conn.execute("ROLLBACK")
            raise StoreError(f"cannot write to the analytics database: {exc}") from exc
        return len(rows)

    def upsert_sessions(self, summaries: Iterable[SessionSummary]) -> int:
        """Insert or replace summaries by session id; returns how many were written."""
        rows = [
            [
                s.session_id,
                s.agent_name,
                s.status,
                _naive(s.started_at),
                _naive(s.ended_at),
                s.duration,
                s.close_reason,
                s.user_turns,
                s.agent_replies,
                s.interruptions,
                s.away_episodes,
                s.prompts.issued,
                s.model_dump_json(),
            ]
            for s in summaries
        ]
        return self._write("sessions", rows)

    def upsert_rollups(self, rows: Iterable[RollupRow]) -> int:
        """Insert or replace rows by (agent name, window start); returns how many were written."""
        values = [
            [
                r.agent_name,
                _naive(r.window_start),
                _naive(r.window_end),
                r.sessions_started,
                r.sessions_ended,
                r.concurrent_sessions,
                r.away_episodes,
                r.prompts,
                orjson.dumps(r.closes).decode(),
                orjson.dumps({k: v.model_dump() for k, v in r.latency.items()}).decode(),
            ]
            for r in rows
        ]
        return self._write("rollups", values)

    def merge_rollups(self, windows: Iterable[RollupWindow]) -> list[RollupRow]:
        """Merge window folds into the stored ones and store the merged rows; returns them."""
        merged: dict[tuple[str, datetime], RollupWindow] = {}
        for window in windows:
            known = merged.get(window.key)
            merged[window.key] = window if known is None else known.merge(window)
        if not merged:
            return []
        keys = list(merged)
        marks = ", ".join(["(?, ?)"] * len(keys))
        stored = self._run(
            "SELECT agent_name, window_start, fold FROM rollup_folds"
            f" WHERE (agent_name, window_start) IN ({marks})",
            [value for agent, start in keys for value in (agent, _naive(start))],
        )
        for agent, start, fold in stored:
            key = (agent, start.replace(tzinfo=UTC))
            try:
                merged[key] = merged[key].merge(RollupWindow.from_json(fold))
            except ValueError as exc:
                raise StoreError(
                    f"the stored rollup fold of {agent} at {start} is unreadable: {exc}"
                ) from exc
        folds = [[w.agent_name, _naive(w.window_start), w.to_json().decode()] for w in merged.values()]
        rows = [w.row() for w in merged.values()]
        self._write("rollup_folds", folds)
        self.upsert_rollups(rows)
        return rows

    def event_counts(self, session_ids: list[str]) -> dict[str, int]:
        """How many events the stored summary of each of these sessions counted."""
        if not session_ids:
            return {}
        marks = ", ".join("?" * len(session_ids))
        rows = self._run(
            f"SELECT session_id, summary FROM sessions WHERE session_id IN ({marks})", session_ids
        )
        return {row[0]: SessionSummary.model_validate_json(row[1]).events for row in rows}

    def session_ends(self) -> dict[str, datetime | None]:
        """Every summarised session with its end (None unless its status is ``ended``)."""
        rows = self._run("SELECT session_id, status, ended_at FROM sessions", [])
        return {
            sid: ended.replace(tzinfo=UTC) if status == "ended" and ended is not None else None
            for sid, status, ended in rows
        }

    def sessions(
        self, since: datetime | None = None, until: datetime | None = None, agent: str | None = None
    ) -> list[SessionSummary]:
        """Summaries of sessions started in [since, until), oldest first."""
        where, params = _filters("started_at", since, until, agent)
        rows = self._run(f"SELECT summary FROM sessions{where} ORDER BY started_at, session_id", params)
        return [SessionSummary.model_validate_json(row[0]) for row in rows]

    def rollups(
        self, since: datetime | None = None, until: datetime | None = None, agent: str | None = None
    ) -> list[RollupRow]:
        """Rows of windows starting in [since, until), oldest first."""
        where, params = _filters("window_start", since, until, agent)
        rows = self._run(
            "SELECT agent_name, window_start, window_end, sessions_started, sessions_ended,"
            " concurrent_sessions, away_episodes, prompts, closes, latency"
            f" FROM rollups{where} ORDER BY window_start, agent_name",
            params,
        )
        return [
            RollupRow(
                agent_name=r[0],
                window_start=r[1].replace(tzinfo=UTC),
                window_end=r[2].replace(tzinfo=UTC),
                sessions_started=r[3],
                sessions_ended=r[4],
                concurrent_sessions=r[5],
                away_episodes=r[6],
                prompts=r[7],
                closes=orjson.loads(r[8]),
                latency=orjson.loads(r[9]),
            )
            for r in rows
        ]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()
