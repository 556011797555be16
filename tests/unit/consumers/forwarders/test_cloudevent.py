"""Events as CloudEvents structured JSON, checked with the CloudEvents SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from cloudevents.core.bindings.http import HTTPMessage, from_http_event

from consumers.forwarders import STRUCTURED_CONTENT_TYPE, encode_cloudevent, to_cloudevent
from consumers.forwarders.cloudevent import EXTENSIONS
from tests.unit.consumers.forwarders.samples import ended


def test_the_body_is_a_valid_structured_cloudevent() -> None:
    event = ended(seq=7)
    message = HTTPMessage(headers={"content-type": STRUCTURED_CONTENT_TYPE}, body=encode_cloudevent(event))
    parsed = from_http_event(message)
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_id() == event.id
    assert parsed.get_source() == event.source
    assert parsed.get_type() == "lkbus.session.ended"
    assert parsed.get_time() == datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)
    assert parsed.get_datacontenttype() == "application/json"
    assert parsed.get_extension("sessionid") == "s-1"
    assert parsed.get_extension("seq") == 7
    assert parsed.get_extension("agentname") == "sales"
    assert parsed.get_extension("schemaversion") == "1.0"
    assert parsed.get_extension("roomname") == "room-1"
    assert parsed.get_data() == {
        "reason": "done",
        "error": None,
        "event_counts": {"x": 1},
        "last_seq": 7,
        "duration": None,
    }


def test_the_id_is_the_event_id_and_the_body_is_stable() -> None:
    event = ended()
    assert encode_cloudevent(event) == encode_cloudevent(event)
    assert orjson.loads(encode_cloudevent(event)) == to_cloudevent(event)
    assert to_cloudevent(event)["id"] == event.id


def test_extension_names_follow_the_spec_and_identities_stay_out() -> None:
    for name in EXTENSIONS:
        assert name.isascii()
        assert name.isalnum()
        assert name.islower()
        assert len(name) <= 20
    body = to_cloudevent(ended())
    assert "caller-7" not in orjson.dumps({k: v for k, v in body.items() if k != "data"}).decode()


def test_time_is_rfc3339_utc() -> None:
    assert to_cloudevent(ended())["time"] == "2023-11-14T22:13:20.250000Z"
