"""The event backbone: event store, transactional outbox, idempotent consumers, replay."""
from .model import Event, EventType, NewEvent, UnknownEventType, registry, event_type
from .store import ConcurrencyError, EventStore
from .projection import Projection

__all__ = [
    "ConcurrencyError", "Event", "EventStore", "EventType", "NewEvent", "Projection",
    "UnknownEventType", "event_type", "registry",
]
