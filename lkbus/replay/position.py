"""Where a read starts or stops: `--from`, `--to` and `--since`, in kcat's spirit.

`parse_position` is pure (the caller passes `now`), so every accepted form is unit-tested:

    beginning | end | now
    1234              offset 1234 in every partition
    -100              100 records before the end of every partition (kcat's -N)
    2:1234[,5:99]     offset 1234 in partition 2 (only the named partitions are read)
    2024-05-01T12:00:00Z, 2024-05-01 12:00, 2024-05-01    an ISO time (UTC when no zone)
    @1714564800000, s@..., e@...                          epoch milliseconds (kcat's s@/e@)
    -15m, -2h, -1d, -1h30m, -500ms                        that long before now
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lkbus.replay.exceptions import PositionError

ACCEPTED_FORMS = (
    "beginning, end, now, an offset (1234; -100 = the last 100 of each partition; "
    "2:1234 = partition 2 at offset 1234), an ISO time (2024-05-01T12:00:00Z), "
    "epoch milliseconds (@1714564800000) or a duration ago (-15m, -2h, -1d)"
)


@dataclass(frozen=True, slots=True)
class Beginning:
    """The oldest record still in each partition."""

    def __str__(self) -> str:
        return "beginning"


@dataclass(frozen=True, slots=True)
class End:
    """The end of each partition when the read starts (the next offset to be written)."""

    def __str__(self) -> str:
        return "end"


@dataclass(frozen=True, slots=True)
class Offset:
    """The same absolute offset in every partition."""

    offset: int

    def __str__(self) -> str:
        return str(self.offset)


@dataclass(frozen=True, slots=True)
class FromEnd:
    """`count` records before the end of each partition."""

    count: int

    def __str__(self) -> str:
        return f"-{self.count}"


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """Absolute offsets in named partitions; only these partitions are read."""

    offsets: tuple[tuple[int, int], ...]
    """(partition, offset) pairs, sorted by partition, each partition once."""

    def as_dict(self) -> dict[int, int]:
        return dict(self.offsets)

    def __str__(self) -> str:
        return ",".join(f"{p}:{o}" for p, o in self.offsets)


@dataclass(frozen=True, slots=True)
class AtTime:
    """The first record whose timestamp is at or after `time` (aware, UTC)."""

    time: datetime

    @property
    def epoch_ms(self) -> int:
        return int(self.time.timestamp() * 1000)

    def __str__(self) -> str:
        return self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")


Position = Beginning | End | Offset | FromEnd | PartitionOffsets | AtTime

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"-((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_PARTITION_OFFSET = re.compile(r"(\d+):(\d+)")
_EPOCH_MS = re.compile(r"[se]?@(\d+)")
_MAX_OFFSET = 2**63 - 1


def parse_position(text: str, *, now: datetime, option: str = "--from") -> Position:
    """Read one position; anything else raises `PositionError` naming the accepted forms."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    value = text.strip()
    lowered = value.lower()
    if lowered in ("beginning", "earliest", "start"):
        return Beginning()
    if lowered in ("end", "latest"):
        return End()
    if lowered == "now":
        return AtTime(now.astimezone(UTC))
    if value.isdigit():
        return Offset(_offset(value, text, option))
    if value.startswith("-") and value[1:].isdigit():
        return FromEnd(_offset(value[1:], text, option))
    if _PARTITION_OFFSET.fullmatch(value.split(",")[0]):
        return _partition_offsets(value, text, option)
    if match := _EPOCH_MS.fullmatch(lowered):
        return AtTime(_from_epoch_ms(int(match.group(1)), text, option))
    if match := _DURATION.fullmatch(lowered):
        return AtTime(_ago(now, match.group(1), text, option))
    return AtTime(_iso_time(value, text, option))


def _fail(text: str, option: str, why: str | None = None) -> PositionError:
    reason = f" ({why})" if why else ""
    return PositionError(f"{option} {text!r} is not a position{reason}; use {ACCEPTED_FORMS}")


def _offset(digits: str, text: str, option: str) -> int:
    offset = int(digits)
    if offset > _MAX_OFFSET:
        raise _fail(text, option, "offset too large")
    return offset


def _partition_offsets(value: str, text: str, option: str) -> PartitionOffsets:
    pairs: dict[int, int] = {}
    for part in value.split(","):
        match = _PARTITION_OFFSET.fullmatch(part.strip())
        if match is None:
            raise _fail(text, option, f"{part.strip()!r} is not partition:offset")
        if any(len(n) > 1 and n.startswith("0") for n in match.groups()):
            raise _fail(
                text,
                option,
                "a clock time needs a date, 2024-05-01T12:00; partition:offset has no leading zeros",
            )
        partition, offset = int(match.group(1)), _offset(match.group(2), text, option)
        if partition in pairs:
            raise _fail(text, option, f"partition {partition} is named twice")
        pairs[partition] = offset
    return PartitionOffsets(tuple(sorted(pairs.items())))


def _from_epoch_ms(ms: int, text: str, option: str) -> datetime:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(text, option, "time out of range") from None


def _ago(now: datetime, spec: str, text: str, option: str) -> datetime:
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(spec))
    if seconds <= 0:
        raise _fail(text, option, "the duration must be more than zero")
    try:
        return now.astimezone(UTC) - timedelta(seconds=seconds)
    except OverflowError:
        raise _fail(text, option, "the duration reaches before year 1") from None


def _iso_time(value: str, text: str, option: str) -> datetime:
    if not value or not value[0].isdigit():
        raise _fail(text, option)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(text, option) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
