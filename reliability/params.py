"""How big and how long each scenario is: the full run, or `--quick` for a smoke run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True, slots=True)
class Params:
    sessions: int = 200
    """Concurrent sessions in the one worker process of the load, outage and broker-kill scenarios."""
    minutes: float = 3.0
    """Length of the load scenario's conversations."""
    turn_interval_s: float = 3.0
    """A user turn every this many seconds per session (± 50 %)."""
    outage_s: float = 60.0
    """How long Kafka is stopped in the outage scenario."""
    fault_lead_s: float = 30.0
    """Traffic before a fault and after the broker is back."""
    crash_sessions: int = 40
    """Sessions of the worker-crash, disk-full, consumer and bad-input scenarios."""
    consumer_minutes: float = 2.0
    """Length of the consumer-crash and rebalance scenarios' conversations."""
    kills: int = 12
    """SIGKILLs of each consumer (at least) in the consumer-crash scenario."""
    malformed: int = 10_000
    """Malformed records mixed into real traffic."""
    fuzz_examples: int = 20_000
    """Hypothesis examples fed to the decoder."""
    seed: int = 7

    @classmethod
    def quick(cls) -> Params:
        return cls(
            sessions=60,
            minutes=0.5,
            outage_s=15.0,
            fault_lead_s=10.0,
            crash_sessions=16,
            consumer_minutes=0.6,
            kills=4,
            malformed=10_000,
            fuzz_examples=2_000,
        )

    def with_overrides(self, **overrides: object) -> Params:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
