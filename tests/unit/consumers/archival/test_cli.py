"""`lkbus archive ls / restore / prune`: output, and one error line with exit 1 on bad options."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from consumers.archival import ArchivalSettings
from consumers.archival.archiver import Archiver
from consumers.archival.cli import archive_app
from consumers.archival.storage import ArchiveRoot
from tests.unit.consumers.archival.records import event, garbage


def _archive(root: Path) -> None:
    settings = ArchivalSettings(root=str(root))
    archiver = Archiver(ArchiveRoot(settings.root), settings)
    archiver.append([event(0, session="a"), garbage(1), event(2, session="b")])
    archiver.close()


def test_ls_table_and_json(tmp_path: Path) -> None:
    _archive(tmp_path)
    table = CliRunner().invoke(archive_app, ["ls", "--root", str(tmp_path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "2026-05-03T03:00:00+00:00" in table.output
    result = CliRunner().invoke(archive_app, ["ls", "--root", str(tmp_path), "--json", "--session", "a"])
    assert result.exit_code == 0, result.output
    (row,) = [orjson.loads(line) for line in result.output.splitlines()]
    assert (row["records"], row["invalid"], row["sessions"], row["files"]) == (1, 0, 1, 1)
    empty = CliRunner().invoke(archive_app, ["ls", "--root", str(tmp_path / "none")])
    assert "nothing archived" in empty.output


def test_bad_options_exit_1_with_one_line(tmp_path: Path) -> None:
    for args, words in (
        (["ls", "--root", str(tmp_path), "--since", "yesterday"], "--since 'yesterday'"),
        (["ls", "--root", str(tmp_path), "--since", "1h", "--until", "2h"], "swap them"),
        (["restore", "--from", str(tmp_path)], "--to-topic is required"),
    ):
        result = CliRunner().invoke(archive_app, args)
        assert result.exit_code == 1, result.output
        assert words in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_prune(tmp_path: Path) -> None:
    _archive(tmp_path)
    result = CliRunner().invoke(archive_app, ["prune", "--older-than", "1", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "removed 1 files" in result.output
