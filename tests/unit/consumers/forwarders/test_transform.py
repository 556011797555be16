"""What the Kafka forwarder writes: original bytes, a projection, or a user function's dict."""

from __future__ import annotations

import orjson
import pytest

from consumers.forwarders import ForwarderSettingsError, TransformError
from consumers.forwarders.transform import identity, load_user_transform, projection, user_transform
from tests.unit.consumers.forwarders.samples import ended, incoming, started

MODULE = "tests.unit.consumers.forwarders.sample_transforms"


def test_identity_keeps_the_bytes() -> None:
    record = incoming(ended())
    assert identity(record) == record.value


def test_projection_nests_payload_paths() -> None:
    event = ended(seq=4, reason="bye")
    out = orjson.loads(
        projection(["id", "type", "seq", "data.reason", "data.event_counts", "data.nope"])(incoming(event))
    )
    assert out == {
        "id": event.id,
        "type": "lkbus.session.ended",
        "seq": 4,
        "data": {"reason": "bye", "event_counts": {"x": 1}, "nope": None},
    }


def test_projection_of_time_and_whole_data() -> None:
    out = orjson.loads(projection(["time", "data"])(incoming(ended())))
    assert out["time"] == "2023-11-14T22:13:20.250000Z"
    assert out["data"]["reason"] == "done"


def test_a_user_function_transforms_and_drops() -> None:
    apply = user_transform(load_user_transform(f"{MODULE}:tag"))
    event = ended()
    value = apply(incoming(event))
    assert value is not None
    assert orjson.loads(value) == {
        "id": event.id,
        "type": event.type,
        "seq": 3,
        "forwarded": True,
    }
    assert apply(incoming(started())) is None


@pytest.mark.parametrize("name", ["broken", "not_a_dict", "not_json"])
def test_a_failing_user_function_is_a_transform_error(name: str) -> None:
    apply = user_transform(load_user_transform(f"{MODULE}:{name}"))
    with pytest.raises(TransformError) as caught:
        apply(incoming(ended()))
    assert not caught.value.retriable
    assert "secret" not in str(caught.value), "the message of user code is not repeated"


@pytest.mark.parametrize(
    "spec", ["nocolon", "no.such.module:f", f"{MODULE}:missing", f"{MODULE}:NOT_CALLABLE", ":f", "m:"]
)
def test_a_bad_transform_spec_is_a_settings_error(spec: str) -> None:
    with pytest.raises(ForwarderSettingsError):
        load_user_transform(spec)
