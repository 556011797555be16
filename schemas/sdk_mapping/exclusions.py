"""SDK events deliberately not published, with the reason (no SDK import: cheap to load)."""

from __future__ import annotations

EXCLUDED_AGENT_EVENTS: dict[str, str] = {
    "debug_message": (
        "internal debugger channel (a protobuf Struct of arbitrary trace data, marked "
        "private in the SDK); not emitted by any code path of livekit-agents 1.8.9"
    ),
}
"""AgentSession event names deliberately not published, with the reason."""

EXCLUDED_ROOM_EVENTS: dict[str, str] = {
    "local_track_published": "the agent's own publication, not the conversation's state",
    "local_track_unpublished": "the agent's own publication, not the conversation's state",
    "local_track_republished": "the agent's own publication, re-issued after a reconnect",
    "local_track_subscribed": "the agent's own track being subscribed by others",
    "e2ee_state_changed": "end-to-end encryption internals, out of scope of the event bus",
    "participant_encryption_status_changed": "end-to-end encryption internals, out of scope",
    "connected": "declared by the SDK but never emitted",
    "token_refreshed": "carries nothing but a new access token, which is a secret",
    "data_track_published": "raw application data tracks, not part of the session's events",
    "data_track_unpublished": "raw application data tracks, not part of the session's events",
}
"""rtc Room event names deliberately not published, with the reason."""
