"""`lkbus schemas export|check|asyncapi` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lkbus.cli import app
from schemas import export

runner = CliRunner()


def test_check_passes_on_the_committed_schemas() -> None:
    result = runner.invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "BACKWARD compatible" in result.output


def test_check_fails_when_a_committed_schema_was_edited(tmp_path: Path) -> None:
    runner.invoke(app, ["schemas", "export", "--dest", str(tmp_path)])
    edited = tmp_path / "json" / "livekit.agent.user_state_changed" / "v1.0.json"
    document = json.loads(edited.read_text())
    document["required"] = [*document["required"], "mood"]
    edited.write_text(json.dumps(document))
    result = runner.invoke(app, ["schemas", "check", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "v1.0.json: differs from the models" in result.output


def test_unknown_mode_is_one_clear_error() -> None:
    result = runner.invoke(app, ["schemas", "check", "--mode", "sideways"])
    assert result.exit_code == 1
    assert "unknown mode 'sideways': use BACKWARD, FORWARD or FULL" in result.output


def test_export_writes_every_document(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", "--dest", str(tmp_path)])
    assert result.exit_code == 0
    assert (tmp_path / "asyncapi.json").exists()
    assert len(list((tmp_path / "json").rglob("v*.json"))) == len(
        list((export.SCHEMAS_ROOT / "json").rglob("v*.json"))
    )


def test_asyncapi_prints_the_document() -> None:
    result = runner.invoke(app, ["schemas", "asyncapi"])
    assert result.exit_code == 0
    assert json.loads(result.output)["asyncapi"] == "3.0.0"
