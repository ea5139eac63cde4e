"""The ``scope`` parameter (RFC 6749 §3.3): parse it, and decide what is granted.

Scope tokens are case-sensitive, made of %x21 / %x23-5B / %x5D-7E, separated by spaces. Extra
spaces between, before or after tokens are tolerated; a repeated token counts once.

Default: a request without ``scope`` gets every scope the client may ask for that its
application still offers (§3.3 lets the server pick a pre-defined default rather than fail).
That may be no scope at all, and then the token carries none.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from ..model import Application, Client
from .errors import InvalidScope

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def parse_scope(value: str | None) -> tuple[str, ...] | None:
    """The scope tokens of ``value`` in request order; ``None`` when no scope was asked for."""
    if value is None:
        return None
    tokens = tuple(dict.fromkeys(token for token in value.split(" ") if token))
    if not tokens:
        return None
    if not all(_SCOPE_TOKEN.match(token) for token in tokens):
        raise InvalidScope("scope has characters RFC 6749 section 3.3 does not allow")
    return tokens


def format_scope(scopes: Iterable[str]) -> str:
    """The space-delimited form of ``scopes``."""
    return " ".join(scopes)


def allowed_scopes(client: Client, application: Application) -> tuple[str, ...]:
    """What ``client`` may be granted: its scopes that its application offers, in client order."""
    offered = set(application.scopes)
    return tuple(scope for scope in client.scopes if scope in offered)


def grant_scopes(requested: tuple[str, ...] | None, client: Client,
                 application: Application) -> tuple[str, ...]:
    """``requested`` if all of it is allowed (else ``invalid_scope``); the default when ``None``."""
    allowed = allowed_scopes(client, application)
    if requested is None:
        return allowed
    allowed_set = set(allowed)
    refused = [scope for scope in requested if scope not in allowed_set]
    if refused:
        raise InvalidScope(f"scope not allowed for this client: {format_scope(refused)}")
    return requested
