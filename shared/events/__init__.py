"""The event backbone: event store, transactional outbox, idempotent consumers, replay."""
from .model import Event, EventType, NewEvent, UnknownEventType, registry, event_type
from .store import ConcurrencyError, EventStore, GuardFailed
from .projection import Projection

__all__ = [
    "ConcurrencyError", "Event", "GuardFailed", "EventStore", "EventType", "NewEvent", "Projection",
    "UnknownEventType", "event_type", "registry",
]
