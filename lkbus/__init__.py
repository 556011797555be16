"""livekit-eventbus: the shared pieces (settings, Kafka clients, topic admin, local broker, CLI)."""

__version__ = "0.1.0"
