"""Prometheus metrics of the publisher (prometheus-client, default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PRODUCED = Counter("lkbus_publisher_events_produced", "Events acknowledged by Kafka.")
EVENTS_SPILLED = Counter("lkbus_publisher_events_spilled", "Events written to the spill journal.")
EVENTS_RESENT = Counter("lkbus_publisher_events_resent", "Journaled events delivered to Kafka later.")
EVENTS_DROPPED = Counter(
    "lkbus_publisher_events_dropped", "Events lost because the journal's disk budget was exhausted."
)
SEND_ERRORS = Counter("lkbus_publisher_send_errors", "Batches Kafka did not acknowledge.")
ENCODE_ERRORS = Counter("lkbus_publisher_encode_errors", "SDK events that could not be encoded.")
SEND_LATENCY = Histogram(
    "lkbus_publisher_send_latency_seconds",
    "From a batch handed to Kafka to its acknowledgement.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BUFFER_EVENTS = Gauge("lkbus_publisher_buffer_events", "Events waiting in memory.")
JOURNAL_BYTES = Gauge("lkbus_publisher_journal_bytes", "Bytes of the spill journal on disk.")
