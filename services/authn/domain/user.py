"""The User aggregate (stream ``user:{tenant_id}:{user_id}``): a person of a tenant's user pool.

Pure: ``fold`` rebuilds the state from events, the commands decide which events a change makes
(or raise :class:`DomainError`). Uniqueness of username and email within a tenant spans users,
so the repository enforces it (the read model's unique indexes, in the append transaction).
The password's hash arrives sealed (see :mod:`services.authn.passwords`): the domain never sees
a password or a hash in the clear.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from shared.events import NewEvent

from .. import events as ev
from . import claims as claim_rules
from .errors import CONFLICT, GONE, NOT_FOUND, DomainError, fail

ACTIVE, DISABLED, DELETED = "active", "disabled", "deleted"
STATUSES = (ACTIVE, DISABLED, DELETED)
SOURCES = ("admin", "import")
PASSWORD_REASONS = ("admin", "rehash")
Sealed = Mapping[str, str]           # {"nonce": b64url, "ciphertext": b64url}


@dataclass(frozen=True, slots=True)
class UserState:
    id: str
    tenant_id: str
    username: str
    status: str
    claims: Mapping[str, Any]
    sealed_password_hash: Sealed | None
    updated_at: int                  # OIDC ``updated_at``: epoch seconds of the last profile change
    version: int


def fold(events: Sequence[Any]) -> UserState | None:
    state: UserState | None = None
    for version, event in enumerate(events, start=1):
        data = event.data
        if event.type == ev.USER_CREATED:
            state = UserState(data["user_id"], data["tenant_id"], data["username"], ACTIVE,
                              {name: data.get(name) for name in claim_rules.CLAIMS},
                              data.get("sealed_password_hash"), data["updated_at"], version)
        elif state is None:
            raise ValueError(f"user stream starts with {event.type}")
        elif event.type == ev.USER_UPDATED:
            changes = dict(data["changes"])
            updated_at = changes.pop("updated_at")
            username = changes.pop("username", state.username)
            state = replace(state, username=username, claims={**state.claims, **changes},
                            updated_at=updated_at, version=version)
        elif event.type == ev.USER_PASSWORD_CHANGED:
            state = replace(state, sealed_password_hash=data["sealed_password_hash"], version=version)
        elif event.type in (ev.USER_DISABLED, ev.USER_ENABLED, ev.USER_DELETED):
            status = {ev.USER_DISABLED: DISABLED, ev.USER_ENABLED: ACTIVE, ev.USER_DELETED: DELETED}[event.type]
            state = replace(state, status=status, version=version)
        else:
            state = replace(state, version=version)
    return state


def _event(type_: str, tenant_id: str, user_id: str, **data: Any) -> NewEvent:
    return NewEvent(type_, {"user_id": user_id, "tenant_id": tenant_id, **data}, tenant=tenant_id)


def existing(state: UserState | None) -> UserState:
    if state is None:
        raise DomainError(NOT_FOUND, "user not found")
    if state.status == DELETED:
        raise DomainError(GONE, f"user {state.id} was deleted")
    return state


def create(state: UserState | None, user_id: str, tenant_id: str, fields: Mapping[str, Any], *,
           sealed_password_hash: Sealed | None, updated_at: int, source: str = "admin") -> list[NewEvent]:
    """A new user from ``fields`` (``username`` and claims; anything else is refused)."""
    if state is not None:
        raise DomainError(GONE if state.status == DELETED else CONFLICT, f"user {user_id} already exists")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    claim_rules.known_fields(fields, claim_rules.EDITABLE, "user")
    if "username" not in fields:
        raise fail("username is required")
    values = {**claim_rules.defaults(), **claim_rules.checked({k: v for k, v in fields.items() if k != "username"})}
    return [_event(ev.USER_CREATED, tenant_id, user_id, username=claim_rules.username(fields["username"]),
                   status=ACTIVE, **values, updated_at=updated_at,
                   sealed_password_hash=dict(sealed_password_hash) if sealed_password_hash else None,
                   source=source)]


def update(state: UserState | None, changes: Mapping[str, Any], *, updated_at: int) -> list[NewEvent]:
    """Change the username or claims; only what differs is recorded (nothing: no event)."""
    state = existing(state)
    claim_rules.known_fields(changes, claim_rules.EDITABLE, "user")
    if not changes:
        raise fail("nothing to update")
    new: dict[str, Any] = {}
    if "username" in changes:
        name = claim_rules.username(changes["username"])
        if name != state.username:
            new["username"] = name
    for name, value in claim_rules.checked({k: v for k, v in changes.items() if k != "username"}).items():
        if value != state.claims.get(name):
            new[name] = value
    if not new:
        return []
    return [_event(ev.USER_UPDATED, state.tenant_id, state.id, changes={**new, "updated_at": updated_at})]


def set_password(state: UserState | None, sealed_password_hash: Sealed, *, reason: str = "admin") -> list[NewEvent]:
    state = existing(state)
    if reason not in PASSWORD_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    return [_event(ev.USER_PASSWORD_CHANGED, state.tenant_id, state.id,
                   sealed_password_hash=dict(sealed_password_hash), reason=reason)]


def disable(state: UserState | None) -> list[NewEvent]:
    state = existing(state)
    return [] if state.status == DISABLED else [_event(ev.USER_DISABLED, state.tenant_id, state.id)]


def enable(state: UserState | None) -> list[NewEvent]:
    state = existing(state)
    return [] if state.status == ACTIVE else [_event(ev.USER_ENABLED, state.tenant_id, state.id)]


def delete(state: UserState | None) -> list[NewEvent]:
    return [_event(ev.USER_DELETED, existing(state).tenant_id, state.id)]
