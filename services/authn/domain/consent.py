"""Consent (stream ``consent:{tenant}:{user}:{application}:{client}``): what a user allowed a client.

A grant adds scopes to what was allowed before; a revocation forgets them all. Whether a request
needs the consent page is :func:`needs_consent`, a pure rule.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from shared.events import NewEvent

from .. import events as ev


def fold(events: Sequence[Any]) -> frozenset[str]:
    """The scopes currently granted."""
    granted: frozenset[str] = frozenset()
    for event in events:
        if event.type == ev.CONSENT_GRANTED:
            granted |= frozenset(event.data["scopes"])
        elif event.type == ev.CONSENT_REVOKED:
            granted = frozenset()
    return granted


def _ids(tenant_id: str, user_id: str, application_id: str, client_id: str) -> dict[str, str]:
    return {"user_id": user_id, "tenant_id": tenant_id, "application_id": application_id, "client_id": client_id}


def grant(granted: frozenset[str], tenant_id: str, user_id: str, application_id: str, client_id: str,
          scopes: Iterable[str]) -> list[NewEvent]:
    """Record the scopes allowed now (no event when all of them were allowed already)."""
    scopes = list(dict.fromkeys(scopes))
    if set(scopes) <= granted and granted:
        return []
    return [NewEvent(ev.CONSENT_GRANTED, {**_ids(tenant_id, user_id, application_id, client_id), "scopes": scopes},
                     tenant=tenant_id, application=application_id)]


def revoke(granted: frozenset[str], tenant_id: str, user_id: str, application_id: str,
           client_id: str) -> list[NewEvent]:
    if not granted:
        return []
    return [NewEvent(ev.CONSENT_REVOKED, _ids(tenant_id, user_id, application_id, client_id),
                     tenant=tenant_id, application=application_id)]


def needs_consent(requested: Iterable[str], granted: Iterable[str], *, skip_consent: bool,
                  prompt: Iterable[str]) -> bool:
    """OIDC Core §3.1.2.1: ``prompt=consent`` always asks; else a client that skips consent, or
    a request whose every scope was granted before, needs no page."""
    if "consent" in prompt:
        return True
    if skip_consent:
        return False
    return not set(requested) <= set(granted)
