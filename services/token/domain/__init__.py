"""The token service's registry aggregates: tenants, applications, clients.

Pure: no I/O. Each aggregate module has a state dataclass folded from its events
(``fold(events) -> State | None``) and command functions that validate their input against
the state and return the events to append (``list[NewEvent]``, empty when nothing changes) or
raise :class:`DomainError`. :mod:`services.token.repository` loads, runs and appends.
"""
from .errors import CONFLICT, GONE, INVALID_REQUEST, NOT_FOUND, DomainError

__all__ = ["CONFLICT", "GONE", "INVALID_REQUEST", "NOT_FOUND", "DomainError"]
