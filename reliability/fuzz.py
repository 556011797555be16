"""Hypothesis fuzz of `schemas.decode`: whatever the bytes and headers, it returns an Event or raises
`DecodeError`, never anything else (the consumer runtime dead-letters only DecodeError)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import DecodeError, SessionContext, decode, encode_event

_CONTEXT = SessionContext(session_id="fuzz", agent_name="fuzz", source="fuzz")
_GOOD = encode_event(
    "livekit.agent.agent_state_changed", {"old_state": "listening", "new_state": "thinking"}, _CONTEXT, 1, 1.0
)
_BODY: dict[str, Any] = orjson.loads(_GOOD.value)

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def _mutated_envelope(draw: st.DrawFn) -> bytes:
    body = dict(_BODY)
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from([*sorted(body), "data.old_state", "data.new_state", "extra"]))
        value = draw(_json)
        if field.startswith("data."):
            data = dict(body["data"]) if isinstance(body.get("data"), dict) else {}
            data[field.removeprefix("data.")] = value
            body["data"] = data
        elif draw(st.booleans()):
            body[field] = value
        else:
            body.pop(field, None)
    return orjson.dumps(body)


_values = st.one_of(
    st.binary(max_size=600),
    _json.map(orjson.dumps),
    _mutated_envelope(),
    st.just(_GOOD.value).flatmap(lambda v: st.integers(0, len(v)).map(lambda n: v[:n])),
)
_headers = st.one_of(
    st.none(),
    st.just(list(_GOOD.headers)),
    st.lists(
        st.tuples(
            st.sampled_from([k for k, _ in _GOOD.headers] + ["x-other"]) | st.text(max_size=20),
            st.binary(max_size=40),
        ),
        max_size=8,
    ),
)


@dataclass(frozen=True, slots=True)
class FuzzResult:
    examples: int
    decoded: int
    refused: int
    failure: str | None


def fuzz_decode(examples: int, seed: int) -> FuzzResult:
    """Feed `examples` generated records to the decoder; the first non-DecodeError is the failure."""
    counts = {"decoded": 0, "refused": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(value=_values, headers=_headers)
    def run(value: bytes, headers: list[tuple[str, bytes]] | None) -> None:
        try:
            decode(value, headers)
        except DecodeError:
            counts["refused"] += 1
        else:
            counts["decoded"] += 1

    run_seeded = _seeded(run, seed)
    failure = None
    try:
        run_seeded()
    except Exception as exc:  # noqa: BLE001 - the falsifying example is the result
        failure = f"{exc.__class__.__name__}: {str(exc)[:300]}"
    total = counts["decoded"] + counts["refused"]
    return FuzzResult(total, counts["decoded"], counts["refused"], failure)


def _seeded(test: Any, seed: int) -> Any:
    from hypothesis import seed as hypothesis_seed

    return hypothesis_seed(seed)(test)
