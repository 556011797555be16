"""Every event name the installed SDKs declare has a schema, or is excluded on purpose."""

from __future__ import annotations

import typing

from livekit.agents.voice import events as agent_events
from livekit.rtc import room as rtc_room

from schemas import EXCLUDED_AGENT_EVENTS, EXCLUDED_ROOM_EVENTS, REGISTRY, TopicFamily
from schemas.export import SCHEMAS_ROOT, relative_path
from schemas.sdk_mapping import agent as agent_mapping
from schemas.sdk_mapping import room as room_mapping


def test_every_agent_session_event_name_has_a_schema() -> None:
    declared = set(typing.get_args(agent_events.EventTypes))
    mapped = {name for name, _ in agent_mapping.MAPPERS.values()}
    missing = declared - mapped - set(EXCLUDED_AGENT_EVENTS)
    assert not missing, f"AgentSession events without a schema: {sorted(missing)}"
    assert not (mapped & set(EXCLUDED_AGENT_EVENTS))
    for name in mapped:
        assert REGISTRY.get(f"livekit.agent.{name}") is not None, name


def test_every_agent_event_class_has_a_mapper() -> None:
    union = typing.get_args(typing.get_args(agent_events.AgentEvent)[0])
    assert union, "the SDK's AgentEvent union could not be read"
    assert set(union) <= set(agent_mapping.MAPPERS), set(union) - set(agent_mapping.MAPPERS)


def test_every_room_event_name_has_a_schema_or_a_reason() -> None:
    declared = set(typing.get_args(rtc_room.EventTypes))
    mapped = set(room_mapping.MAPPERS)
    missing = declared - mapped - set(EXCLUDED_ROOM_EVENTS)
    assert not missing, f"rtc Room events without a schema: {sorted(missing)}"
    assert not (mapped & set(EXCLUDED_ROOM_EVENTS))
    assert set(EXCLUDED_ROOM_EVENTS) <= declared, "an exclusion names an event the SDK no longer has"
    assert all(reason for reason in EXCLUDED_ROOM_EVENTS.values())
    for name in mapped:
        spec = REGISTRY.get(f"livekit.room.{name}")
        assert spec is not None, name
        assert spec.family is TopicFamily.ROOM


def test_every_type_has_a_family_and_a_committed_schema_per_version() -> None:
    for spec in REGISTRY:
        prefix = spec.event_type.split(".")[0]
        assert prefix in {"livekit", "lkbus"}
        for vspec in spec.versions:
            assert (SCHEMAS_ROOT / relative_path(vspec)).is_file(), vspec.event_type


def test_routes() -> None:
    families = {spec.event_type: spec.family for spec in REGISTRY}
    assert families["livekit.agent.user_state_changed"] is TopicFamily.USER_STATE
    assert families["livekit.agent.agent_state_changed"] is TopicFamily.SESSION
    assert families["lkbus.session.started"] is TopicFamily.SESSION
    assert families["lkbus.command.executed"] is TopicFamily.SESSION
    for name in ("prompt_user", "say", "close_session"):
        assert families[f"lkbus.command.{name}"] is TopicFamily.COMMANDS
