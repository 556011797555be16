"""Inside the agent worker: publish every session and room event to Kafka."""

from producers.attachment import SessionPublication
from producers.delivery import DeliveryStats
from producers.journal import Journal, JournalRecord
from producers.publisher import EventPublisher, PublisherError

__all__ = [
    "DeliveryStats",
    "EventPublisher",
    "Journal",
    "JournalRecord",
    "PublisherError",
    "SessionPublication",
]
