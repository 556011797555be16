"""compose.yaml: its commands are lkbus commands and its LKBUS_* names are settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from typer.main import get_command

from lkbus.cli import app
from lkbus.settings import Settings

COMPOSE = Path(__file__).parents[2] / "compose.yaml"


def _setting_names() -> set[str]:
    names = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        names |= {f"LKBUS_{section.upper()}__{name.upper()}" for name in model.model_fields}
    return names


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def test_compose_has_kafka_in_kraft_mode_with_two_listeners() -> None:
    kafka = _services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "HOST://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "DOCKER://kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_every_lkbus_variable_is_a_setting() -> None:
    known = _setting_names()
    used = {
        name
        for service in _services().values()
        for name in (service.get("environment") or {})
        if name.startswith("LKBUS_")
    }
    assert used, "the project's services are configured through LKBUS_* settings"
    assert used <= known, f"compose.yaml names unknown settings: {sorted(used - known)}"


def test_every_lkbus_command_exists() -> None:
    cli = get_command(app)
    commands = [s["command"] for s in _services().values() if s.get("command", [""])[0] == "lkbus"]
    assert ["lkbus", "topics", "create"] in commands
    for name in ("inactivity", "analytics", "archival"):
        assert ["lkbus", "consume", name] in commands
    from consumers.registry import available

    for command in commands:
        if command[1:2] == ["consume"]:
            assert command[2] in available(), f"compose runs an unknown consumer {command[2]!r}"
    for command in commands:
        group: Any = cli
        for word in command[1:]:
            if word.startswith("-") or not hasattr(group, "commands"):
                break  # options, or the arguments of a command
            assert word in group.commands, f"`{' '.join(command)}`: no command {word!r}"
            group = group.commands[word]
        assert not hasattr(group, "commands"), f"`{' '.join(command)}` names a group, not a command"
