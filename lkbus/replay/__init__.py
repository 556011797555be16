"""Replay recorded events (`lkbus replay`) and list recent sessions (`lkbus sessions`)."""

from lkbus.replay.exceptions import (
    ArchiveUnavailableError,
    PositionError,
    ReplayError,
    ReplayOptionError,
    RepublishError,
)
from lkbus.replay.filters import EventFilter
from lkbus.replay.kafka_source import KafkaRecordSource
from lkbus.replay.position import (
    AtTime,
    Beginning,
    End,
    FromEnd,
    Offset,
    PartitionOffsets,
    Position,
    parse_position,
)
from lkbus.replay.runner import ReplayOptions, ReplayStats, replay
from lkbus.replay.sessions import SessionsOptions, SessionsResult, SessionSummary, sessions
from lkbus.replay.source import MemoryRecordSource, ReadPlan, ReadRequest, Record, RecordSource, SourceRecord
from lkbus.replay.timeline import TimelineRenderer

__all__ = [
    "ArchiveUnavailableError",
    "AtTime",
    "Beginning",
    "End",
    "EventFilter",
    "FromEnd",
    "KafkaRecordSource",
    "MemoryRecordSource",
    "Offset",
    "PartitionOffsets",
    "Position",
    "PositionError",
    "ReadPlan",
    "ReadRequest",
    "Record",
    "RecordSource",
    "ReplayError",
    "ReplayOptionError",
    "ReplayOptions",
    "ReplayStats",
    "RepublishError",
    "SessionSummary",
    "SessionsOptions",
    "SessionsResult",
    "SourceRecord",
    "TimelineRenderer",
    "parse_position",
    "replay",
    "sessions",
]
