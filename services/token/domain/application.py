"""The Application aggregate (stream ``application:{application_id}``).

An application is an authorization server of a tenant: its own issuer (``{public_url}/{id}``
unless a custom one is set), token settings and offered scopes. Application ids are global
because the default issuer is built from them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

from shared.events import NewEvent

from .. import events as ev
from ..model import TokenSettings
from .errors import CONFLICT, GONE, NOT_FOUND, DomainError
from .status import ACTIVE, DELETED, DISABLED, Recorded
from .tenant import TenantState
from .validation import display_name, fail, integer, known_fields, one_of, slug
from .validation import issuer as valid_issuer, scopes as valid_scopes

SYSTEM_APPLICATION = "system"
# Path segments the public URL routes elsewhere, plus the bootstrap's own application.
RESERVED_APPLICATION_IDS = frozenset({"admin", "internal", "healthz", "readyz", "metrics", ".well-known",
                                      SYSTEM_APPLICATION})
ADMIN_SCOPE = "tessera:admin"
DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")

ACCESS_TOKEN_FORMATS = ("jwt", "opaque")
SIGNING_ALGS = ("RS256", "ES256", "EdDSA")
DAY = 86400
# setting -> (low, high) in seconds
LIFETIMES = {
    "access_token_ttl": (60, DAY),
    "id_token_ttl": (60, DAY),
    "code_ttl": (10, 600),
    "refresh_token_ttl": (60, 365 * DAY),
}
SETTINGS_FIELDS = ("access_token_format", "access_token_alg", "signing_algs", *LIFETIMES)
UPDATABLE = ("name", "issuer", "settings", "scopes")


@dataclass(frozen=True, slots=True)
class ApplicationState:
    id: str
    tenant_id: str
    name: str
    issuer: str
    settings: TokenSettings
    scopes: tuple[str, ...]
    status: str
    version: int


def settings_to_data(settings: TokenSettings) -> dict[str, Any]:
    data = asdict(settings)
    data["signing_algs"] = list(settings.signing_algs)
    return data


def settings_from_data(data: Mapping[str, Any]) -> TokenSettings:
    return TokenSettings(**{**data, "signing_algs": tuple(data["signing_algs"])})


def fold(events: Sequence[Recorded]) -> ApplicationState | None:
    state: ApplicationState | None = None
    for version, event in enumerate(events, start=1):
        data = event.data
        if event.type == ev.APPLICATION_CREATED:
            state = ApplicationState(
                id=data["application_id"], tenant_id=data["tenant_id"], name=data["name"],
                issuer=data["issuer"], settings=settings_from_data(data["settings"]),
                scopes=tuple(data["scopes"]), status=ACTIVE, version=version)
        elif state is None:
            raise ValueError(f"application stream starts with {event.type}")
        elif event.type == ev.APPLICATION_UPDATED:
            changes = dict(data["changes"])
            if "settings" in changes:
                changes["settings"] = settings_from_data(changes["settings"])
            if "scopes" in changes:
                changes["scopes"] = tuple(changes["scopes"])
            state = replace(state, **changes, version=version)
        elif event.type == ev.APPLICATION_DISABLED:
            state = replace(state, status=DISABLED, version=version)
        elif event.type == ev.APPLICATION_ENABLED:
            state = replace(state, status=ACTIVE, version=version)
        elif event.type == ev.APPLICATION_DELETED:
            state = replace(state, status=DELETED, version=version)
    return state


def parse_settings(value: Any, base: TokenSettings = TokenSettings()) -> TokenSettings:
    """``value`` (a partial settings object) over ``base``, checked as a whole."""
    if not isinstance(value, Mapping):
        raise fail("settings must be an object")
    known_fields(value, SETTINGS_FIELDS, "settings")
    merged = settings_to_data(base)
    merged.update(value)
    fmt = one_of(merged["access_token_format"], ACCESS_TOKEN_FORMATS, "settings.access_token_format")
    algs = merged["signing_algs"]
    if not isinstance(algs, (list, tuple)) or not algs:
        raise fail("settings.signing_algs must be a non-empty list")
    for alg in algs:
        one_of(alg, SIGNING_ALGS, "settings.signing_algs entries")
    if len(set(algs)) != len(algs):
        raise fail("settings.signing_algs must not repeat an algorithm")
    if "RS256" not in algs:
        raise fail("settings.signing_algs must include RS256 (OpenID Connect Discovery requires it)")
    alg = one_of(merged["access_token_alg"], algs, "settings.access_token_alg (one of signing_algs)")
    ttls = {name: integer(merged[name], low, high, f"settings.{name}")
            for name, (low, high) in LIFETIMES.items()}
    return TokenSettings(access_token_format=fmt, access_token_alg=alg, signing_algs=tuple(algs), **ttls)


def default_issuer(public_url: str, application_id: str) -> str:
    return f"{public_url.rstrip('/')}/{application_id}"


def _issuer(value: Any, public_url: str, application_id: str) -> str:
    return default_issuer(public_url, application_id) if value is None else valid_issuer(value)


def _event(type_: str, state_or_ids: ApplicationState | tuple[str, str], **data: Any) -> NewEvent:
    app_id, tenant_id = ((state_or_ids.id, state_or_ids.tenant_id)
                         if isinstance(state_or_ids, ApplicationState) else state_or_ids)
    return NewEvent(type_, {"application_id": app_id, "tenant_id": tenant_id, **data},
                    tenant=tenant_id, application=app_id)


def existing(state: ApplicationState | None) -> ApplicationState:
    """The application a command acts on: not found when absent, gone when deleted."""
    if state is None:
        raise DomainError(NOT_FOUND, "application not found")
    if state.status == DELETED:
        raise DomainError(GONE, f"application {state.id!r} was deleted")
    return state


def create(state: ApplicationState | None, *, application_id: Any, tenant: TenantState | None, name: Any,
           public_url: str, issuer: Any = None, settings: Any = None, scopes: Any = None,
           system: bool = False) -> list[NewEvent]:
    """Create an application in ``tenant``. ``system`` (bootstrap only) allows the reserved ids."""
    application_id = slug(application_id, "application id")
    if application_id in RESERVED_APPLICATION_IDS and not (system and application_id == SYSTEM_APPLICATION):
        raise fail(f"application id {application_id!r} is reserved")
    if state is not None:
        if state.status == DELETED:
            raise DomainError(GONE, f"application {application_id!r} was deleted; its id cannot be reused")
        raise DomainError(CONFLICT, f"application {application_id!r} already exists")
    if tenant is None or tenant.status == DELETED:
        raise DomainError(NOT_FOUND, "tenant not found")
    parsed = parse_settings({} if settings is None else settings)
    offered = DEFAULT_SCOPES if scopes is None else valid_scopes(scopes)
    return [_event(ev.APPLICATION_CREATED, (application_id, tenant.id), name=display_name(name),
                   issuer=_issuer(issuer, public_url, application_id),
                   settings=settings_to_data(parsed), scopes=list(offered))]


def update(state: ApplicationState | None, changes: Mapping[str, Any], *, public_url: str) -> list[NewEvent]:
    """Change some of name, issuer (``None``: back to the default), settings (partial), scopes."""
    state = existing(state)
    known_fields(changes, UPDATABLE, "application")
    if not changes:
        raise fail("nothing to update")
    candidate: dict[str, Any] = {}
    if "name" in changes:
        candidate["name"] = display_name(changes["name"])
    if "issuer" in changes:
        candidate["issuer"] = _issuer(changes["issuer"], public_url, state.id)
    if "settings" in changes:
        candidate["settings"] = parse_settings(changes["settings"], state.settings)
    if "scopes" in changes:
        candidate["scopes"] = valid_scopes(changes["scopes"])
    new = {k: v for k, v in candidate.items() if getattr(state, k) != v}
    if not new:
        return []
    if "settings" in new:
        new["settings"] = settings_to_data(new["settings"])
    if "scopes" in new:
        new["scopes"] = list(new["scopes"])
    return [_event(ev.APPLICATION_UPDATED, state, changes=new)]


def _not_system(state: ApplicationState, action: str) -> None:
    if state.id == SYSTEM_APPLICATION:
        raise DomainError(CONFLICT, f"the system application cannot be {action}")


def disable(state: ApplicationState | None) -> list[NewEvent]:
    state = existing(state)
    _not_system(state, "disabled")
    return [] if state.status == DISABLED else [_event(ev.APPLICATION_DISABLED, state)]


def enable(state: ApplicationState | None) -> list[NewEvent]:
    state = existing(state)
    return [] if state.status == ACTIVE else [_event(ev.APPLICATION_ENABLED, state)]


def delete(state: ApplicationState | None) -> list[NewEvent]:
    """Delete the application (the caller deletes its clients in the same transaction)."""
    state = existing(state)
    _not_system(state, "deleted")
    return [_event(ev.APPLICATION_DELETED, state)]
