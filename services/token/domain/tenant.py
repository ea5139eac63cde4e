"""The Tenant aggregate (stream ``tenant:{tenant_id}``): a user pool that owns applications."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from shared.events import NewEvent

from .. import events as ev
from .errors import CONFLICT, GONE, NOT_FOUND, DomainError
from .status import ACTIVE, DELETED, DISABLED, Recorded
from .validation import display_name, fail, known_fields, slug

SYSTEM_TENANT = "system"
RESERVED_TENANT_IDS = frozenset({SYSTEM_TENANT})
UPDATABLE = ("name",)


@dataclass(frozen=True, slots=True)
class TenantState:
    id: str
    name: str
    status: str
    version: int


def fold(events: Sequence[Recorded]) -> TenantState | None:
    state: TenantState | None = None
    for version, event in enumerate(events, start=1):
        data = event.data
        if event.type == ev.TENANT_CREATED:
            state = TenantState(data["tenant_id"], data["name"], ACTIVE, version)
        elif state is None:
            raise ValueError(f"tenant stream starts with {event.type}")
        elif event.type == ev.TENANT_UPDATED:
            state = replace(state, **data["changes"], version=version)
        elif event.type == ev.TENANT_DISABLED:
            state = replace(state, status=DISABLED, version=version)
        elif event.type == ev.TENANT_ENABLED:
            state = replace(state, status=ACTIVE, version=version)
        elif event.type == ev.TENANT_DELETED:
            state = replace(state, status=DELETED, version=version)
    return state


def _event(type_: str, tenant_id: str, **data: Any) -> NewEvent:
    return NewEvent(type_, {"tenant_id": tenant_id, **data}, tenant=tenant_id)


def _existing(state: TenantState | None) -> TenantState:
    if state is None:
        raise DomainError(NOT_FOUND, "tenant not found")
    if state.status == DELETED:
        raise DomainError(GONE, f"tenant {state.id!r} was deleted")
    return state


def create(state: TenantState | None, tenant_id: Any, name: Any, *, system: bool = False) -> list[NewEvent]:
    """Create a tenant. ``system`` is for the bootstrap only: it may use the reserved ids."""
    tenant_id = slug(tenant_id, "tenant id")
    if tenant_id in RESERVED_TENANT_IDS and not system:
        raise fail(f"tenant id {tenant_id!r} is reserved")
    if state is not None:
        if state.status == DELETED:
            raise DomainError(GONE, f"tenant {tenant_id!r} was deleted; its id cannot be reused")
        raise DomainError(CONFLICT, f"tenant {tenant_id!r} already exists")
    return [_event(ev.TENANT_CREATED, tenant_id, name=display_name(name))]


def update(state: TenantState | None, changes: Mapping[str, Any]) -> list[NewEvent]:
    state = _existing(state)
    known_fields(changes, UPDATABLE, "tenant")
    if not changes:
        raise fail("nothing to update")
    new: dict[str, Any] = {}
    if "name" in changes:
        name = display_name(changes["name"])
        if name != state.name:
            new["name"] = name
    return [_event(ev.TENANT_UPDATED, state.id, changes=new)] if new else []


def _not_system(state: TenantState, action: str) -> None:
    if state.id == SYSTEM_TENANT:
        raise DomainError(CONFLICT, f"the system tenant cannot be {action}")


def disable(state: TenantState | None) -> list[NewEvent]:
    state = _existing(state)
    _not_system(state, "disabled")
    return [] if state.status == DISABLED else [_event(ev.TENANT_DISABLED, state.id)]


def enable(state: TenantState | None) -> list[NewEvent]:
    state = _existing(state)
    return [] if state.status == ACTIVE else [_event(ev.TENANT_ENABLED, state.id)]


def delete(state: TenantState | None, *, live_applications: int) -> list[NewEvent]:
    """Delete a tenant that has no live (not deleted) applications left."""
    state = _existing(state)
    _not_system(state, "deleted")
    if live_applications:
        raise DomainError(CONFLICT, f"tenant {state.id!r} still has {live_applications} "
                                    "application(s); delete them first")
    return [_event(ev.TENANT_DELETED, state.id)]
