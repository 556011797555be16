"""Fixtures shared by the schemas tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import SessionContext
from schemas.export import SCHEMAS_ROOT


@pytest.fixture
def ctx() -> SessionContext:
    return SessionContext(
        session_id="sess_1",
        agent_name="support-agent",
        source="lkbus/worker-1",
        job_id="AJ_1",
        room_name="room-1",
        room_sid="RM_1",
        participant_identity="user_1",
    )


@pytest.fixture(scope="session")
def committed_schema() -> Any:
    cache: dict[tuple[str, str], dict[str, Any]] = {}

    def load(type_name: str, version: str) -> dict[str, Any]:
        key = (type_name, version)
        if key not in cache:
            path: Path = SCHEMAS_ROOT / "json" / type_name / f"v{version}.json"
            cache[key] = orjson.loads(path.read_bytes())
        return cache[key]

    return load
