"""Events: versioned types, the envelope, and upcasting of old versions.

An event type is named ``<aggregate>.<past-tense verb>`` (``client.created``) and carries a
schema version. When a payload's shape changes, the type's version is raised and an upcaster
turns a stored version-N payload into version N+1; readers only ever see the current version.
"""
from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class UnknownEventType(Exception):
    pass


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    version: int
    description: str
    example: Payload
    upcasters: dict[int, Upcaster] = field(default_factory=dict)  # from-version -> fn
    service: str = "?"                                            # the service that records it

    @property
    def aggregate(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.name.split(".", 1)[1]

    def upcast(self, version: int, data: Payload) -> Payload:
        while version < self.version:
            data = self.upcasters[version](data)
            version += 1
        return data


class Registry:
    """Every event type a service may write or read, in one place."""

    def __init__(self) -> None:
        self._types: dict[str, EventType] = {}

    def add(self, etype: EventType) -> EventType:
        if "." not in etype.name:
            raise ValueError(f"event type {etype.name!r} must be <aggregate>.<verb>")
        missing = [v for v in range(1, etype.version) if v not in etype.upcasters]
        if missing:
            raise ValueError(f"event type {etype.name!r} v{etype.version} lacks upcasters from {missing}")
        self._types[etype.name] = etype
        return etype

    def get(self, name: str) -> EventType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventType(name) from None

    def __iter__(self):
        return iter(sorted(self._types.values(), key=lambda t: t.name))

    def __contains__(self, name: str) -> bool:
        return name in self._types


registry = Registry()


def event_type(name: str, version: int = 1, *, description: str, example: Payload,
               upcasters: dict[int, Upcaster] | None = None) -> EventType:
    """Declare an event type in the global registry (its service is the declaring module's)."""
    module = sys._getframe(1).f_globals.get("__name__", "")
    parts = module.split(".")
    service = parts[1] if len(parts) > 2 and parts[0] == "services" else "?"
    return registry.add(EventType(name, version, description, example, upcasters or {}, service))


# The ids an event is about, copied from its payload into the envelope's ``subject`` so that a
# subscriber filters by client, user, grant or key without knowing every payload. One rule for
# every type: these keys when present as strings; and a token's ``subject`` (its ``sub``) is a
# user id unless it is the client acting for itself (``subject == client_id``).
SUBJECT_IDS = ("client_id", "user_id", "grant_id", "jti", "kid", "session_id")


def subject_ids(data: Payload) -> dict[str, str]:
    ids = {key: data[key] for key in SUBJECT_IDS if isinstance(data.get(key), str)}
    sub = data.get("subject")
    if isinstance(sub, str) and sub != data.get("client_id") and "user_id" not in ids:
        ids["user_id"] = sub
    return ids


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended: the aggregate decides, the store records."""
    type: str
    data: Payload
    tenant: str | None = None
    application: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A recorded event, as stored and as published (its envelope)."""
    id: uuid.UUID
    type: str
    version: int              # schema version of ``type``
    stream: str               # aggregate stream, e.g. "client:abc"
    sequence: int             # position of the event in its stream (1-based)
    occurred_at: datetime
    service: str
    tenant: str | None
    application: str | None
    request_id: str | None
    actor: str | None
    data: Payload
    position: int = 0         # global position in the owning service's store

    def at(self, position: int) -> "Event":
        """This event as recorded at ``position`` (what the store returns once it committed)."""
        return Event(self.id, self.type, self.version, self.stream, self.sequence, self.occurred_at,
                     self.service, self.tenant, self.application, self.request_id, self.actor, self.data,
                     position)

    @property
    def subject(self) -> str:
        """NATS subject: ``tessera.<service>.<tenant>.<aggregate>.<event>``."""
        aggregate, verb = self.type.split(".", 1)
        return f"tessera.{self.service}.{self.tenant or '_'}.{aggregate}.{verb}"

    @property
    def subject_ids(self) -> dict[str, str]:
        """The ids this event is about (the envelope's ``subject``): see :func:`subject_ids`."""
        return subject_ids(self.data)

    def envelope(self) -> Payload:
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "stream": self.stream,
            "sequence": self.sequence,
            "occurred_at": self.occurred_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "service": self.service,
            "tenant": self.tenant,
            "application": self.application,
            "request_id": self.request_id,
            "actor": self.actor,
            "subject": self.subject_ids,
            "data": self.data,
        }

    @classmethod
    def from_envelope(cls, env: Payload, *, upcast: bool = True) -> "Event":
        """Parse a published envelope, upcasting its payload to the current version.

        ``subject`` is derived from ``data``, so envelopes published without it parse the same."""
        data, version = env["data"], int(env["version"])
        if upcast and env["type"] in registry:
            etype = registry.get(env["type"])
            data, version = etype.upcast(version, data), etype.version
        return cls(
            id=uuid.UUID(env["id"]), type=env["type"], version=version, stream=env["stream"],
            sequence=int(env["sequence"]),
            occurred_at=datetime.fromisoformat(env["occurred_at"].replace("Z", "+00:00")),
            service=env["service"], tenant=env.get("tenant"), application=env.get("application"),
            request_id=env.get("request_id"), actor=env.get("actor"), data=data,
        )
