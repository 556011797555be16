"""The analytics consumer: per-session summaries, per-minute rollups, a DuckDB store and reports.

Everything here is pure (no Kafka): the service that feeds it lives in ``service.py``.
"""

from consumers.analytics.exceptions import (
    AnalyticsError,
    ReportError,
    SessionMismatchError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
)
from consumers.analytics.report import (
    ReportFormat,
    agent_rows,
    parse_time,
    plot_report,
    render_report,
    report_tables,
)
from consumers.analytics.rollups import RollupRow, Rollups, RollupWindow, window_start_of
from consumers.analytics.stats import LatencyStats, percentile
from consumers.analytics.store import DEFAULT_DB_PATH, AnalyticsStore, DuckDBStore
from consumers.analytics.summary import SessionAccumulator, SessionSummary, fold_session

__all__ = [
    "DEFAULT_DB_PATH",
    "AnalyticsError",
    "AnalyticsStore",
    "DuckDBStore",
    "LatencyStats",
    "ReportError",
    "ReportFormat",
    "RollupRow",
    "RollupWindow",
    "Rollups",
    "SessionAccumulator",
    "SessionMismatchError",
    "SessionSummary",
    "StoreError",
    "StoreLockedError",
    "StoreNotFoundError",
    "agent_rows",
    "fold_session",
    "parse_time",
    "percentile",
    "plot_report",
    "render_report",
    "report_tables",
    "window_start_of",
]
