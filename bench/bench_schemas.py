"""Encode and decode cost per event, beside the SDK's own dump and a bare orjson.loads."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from bench.event_mix import event_mix
from bench.report import BenchRow, medians_interleaved
from schemas import SessionContext, decode, encode_session_event
from schemas.registry import REGISTRY

RUNS = 9
LOOPS = 1000


def _per_event_us(fn: Callable[[], None], events: int) -> Callable[[], float]:
    def measure() -> float:
        start = time.perf_counter()
        for _ in range(LOOPS):
            fn()
        return (time.perf_counter() - start) / (LOOPS * events) * 1e6

    return measure


def run() -> list[BenchRow]:
    """Medians of several runs, in microseconds per event."""
    ctx = SessionContext(
        session_id="sess_1",
        agent_name="agent",
        source="worker-1",
        job_id="AJ_1",
        room_name="room",
        room_sid="RM_1",
        participant_identity="user",
    )
    events = event_mix()
    records = [encode_session_event(e, ctx, i + 1) for i, e in enumerate(events)]
    values = [r.value for r in records]
    headers = [r.headers for r in records]

    seqs = list(range(1, len(events) + 1))

    # Both loops walk the same pairs, so the figures differ only by the per-event work.
    def encode_ours() -> None:
        for e, seq in zip(events, seqs, strict=True):
            encode_session_event(e, ctx, seq)

    def encode_sdk() -> None:
        for e, _seq in zip(events, seqs, strict=True):
            e.model_dump_json()

    def decode_ours() -> None:
        for v, h in zip(values, headers, strict=True):
            decode(v, h)

    validators = [REGISTRY.spec(r.type).current.event_class.__pydantic_validator__ for r in records]

    def decode_pydantic() -> None:
        for v, validator in zip(values, validators, strict=True):
            validator.validate_json(v)

    def decode_bare() -> None:
        for v, _h in zip(values, headers, strict=True):
            orjson.loads(v)

    n = len(events)
    enc_ours, enc_sdk = medians_interleaved(RUNS, _per_event_us(encode_ours, n), _per_event_us(encode_sdk, n))
    dec_ours, dec_bare, dec_pydantic = medians_interleaved(
        RUNS,
        _per_event_us(decode_ours, n),
        _per_event_us(decode_bare, n),
        _per_event_us(decode_pydantic, n),
    )
    return [
        BenchRow(
            name="encode SDK event -> record (mix)",
            ours=enc_ours,
            baseline=enc_sdk,
            unit="us/event",
            baseline_name="SDK model_dump_json",
            target="<= 1.5x",
        ),
        BenchRow(
            name="decode + validate record (mix)",
            ours=dec_ours,
            baseline=dec_bare,
            unit="us/event",
            baseline_name="bare orjson.loads",
            target="<= 3x",
        ),
        BenchRow(
            name="decode + validate record (mix)",
            ours=dec_ours,
            baseline=dec_pydantic,
            unit="us/event",
            baseline_name="pydantic validate_json alone",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(
            f"{row.name}: {row.ours:.2f} vs {row.baseline:.2f} {row.unit} "
            f"({row.ratio:.2f}x, target {row.target})"
        )
