"""`--from-archive`: the same replay from files written in the archival consumer's layout."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
import zstandard

from consumers.archival.layout import file_name, hour_of, relative_path
from lkbus.errors import TopicError
from lkbus.replay import AtTime, EventFilter, MemoryRecordSource, PartitionOffsets, ReplayOptions, replay
from lkbus.replay.exceptions import ReplayOptionError
from lkbus.settings import Settings
from tests.unit.replay.recording import T0, Recording, conversation, ctx
from tests.unit.replay.test_position import NOW

SETTINGS = Settings()


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode()


@pytest.fixture
def recording() -> Recording:
    rec = Recording(partitions=3)
    records = [r for i in range(3) for r in conversation(ctx(f"s-{i}"), T0 + i * 0.1)]
    rec.add(sorted(records, key=lambda r: r.time))
    return rec


@pytest.fixture
def archive(tmp_path: Path, recording: Recording) -> Path:
    """One zstd JSON Lines file per partition, two for the first (a file per 5 records)."""
    for (topic, partition), log in recording.by_partition.items():
        for first in range(0, len(log), 5 if partition == 0 else len(log)):
            chunk = log[first : first + (5 if partition == 0 else len(log))]
            lines = b"".join(
                orjson.dumps(
                    {
                        "topic": r.topic,
                        "partition": r.partition,
                        "offset": r.offset,
                        "timestamp": r.timestamp,
                        "key": _text(r.key),
                        "headers": [[k, _text(v)] for k, v in r.headers],
                        "value": _text(r.value),
                        "valid": True,
                    },
                    option=orjson.OPT_APPEND_NEWLINE,
                )
                for r in chunk
            )
            path = tmp_path / relative_path(
                topic, hour_of(chunk[0].timestamp), file_name(topic, partition, chunk[0].offset, "jsonl")
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zstandard.ZstdCompressor().compress(lines))
    return tmp_path


async def both(recording: Recording, archive: Path, options: ReplayOptions) -> tuple[str, str]:
    from_memory, from_archive = io.StringIO(), io.StringIO()
    await replay(SETTINGS, options, from_memory, source=MemoryRecordSource(recording.full()))
    archived = ReplayOptions(
        topics=options.topics, start=options.start, stop=options.stop, filter=options.filter, archive=archive
    )
    await replay(SETTINGS, archived, from_archive)
    return from_memory.getvalue(), from_archive.getvalue()


@pytest.mark.parametrize(
    "options",
    [
        ReplayOptions(),
        ReplayOptions(filter=EventFilter(sessions=("s-1",))),
        ReplayOptions(start=PartitionOffsets(((0, 3),)), stop=PartitionOffsets(((0, 9),))),
        ReplayOptions(start=AtTime(NOW.replace(second=1)), stop=AtTime(NOW.replace(second=2))),
    ],
)
async def test_archive_replays_like_kafka(
    recording: Recording, archive: Path, options: ReplayOptions
) -> None:
    memory, archived = await both(recording, archive, options)
    assert archived
    assert archived == memory


async def test_archive_errors(archive: Path) -> None:
    with pytest.raises(TopicError, match="no archived records of nope"):
        await replay(SETTINGS, ReplayOptions(topics=("nope",), archive=archive), io.StringIO())
    with pytest.raises(ReplayOptionError, match="cannot follow an archive"):
        await replay(SETTINGS, ReplayOptions(follow=True, archive=archive), io.StringIO())
