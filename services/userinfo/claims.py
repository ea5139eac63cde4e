"""Standard claims: what the read model keeps of a user, and what a scope releases (OIDC Core §5.1, §5.4).

Plain data in, plain data out. Only the standard claims are kept: anything else authn's events
carry (a sealed password hash, MFA state, …) is dropped before it reaches the database.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

# OIDC Core §5.4: the claims each scope releases.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
                "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
STRINGS = frozenset(name for names in SCOPE_CLAIMS.values() for name in names) - {
    "email_verified", "phone_number_verified", "address", "updated_at"}
BOOLEANS = frozenset({"email_verified", "phone_number_verified"})
ADDRESS_FIELDS = ("formatted", "street_address", "locality", "region", "postal_code", "country")
# A *_verified flag says something only about a value that is there.
_VERIFIES = {"email_verified": "email", "phone_number_verified": "phone_number"}
KNOWN = STRINGS | BOOLEANS | {"address", "updated_at"}


def epoch_seconds(value: Any) -> int | None:
    """``updated_at`` as a NumericDate: from epoch seconds or an RFC 3339 / ISO 8601 string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value:
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return None


def _string(value: Any) -> str | None:
    """A non-empty string Postgres can store (no NUL), else None."""
    return value if isinstance(value, str) and value and "\x00" not in value else None


def _address(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    kept = {k: value[k] for k in ADDRESS_FIELDS if _string(value.get(k)) is not None}
    return kept or None


def normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    """The standard claims among ``data`` (an event payload or its ``changes``).

    A claim present with an empty or unusable value maps to ``None``: "no value any more" (the
    read model removes it). Claims absent from ``data`` are absent from the result.
    """
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in KNOWN:
            continue
        if name in STRINGS:
            out[name] = _string(value)
        elif name in BOOLEANS:
            out[name] = value if isinstance(value, bool) else None
        elif name == "address":
            out[name] = _address(value)
        else:
            out[name] = epoch_seconds(value)
    return out


def released(claims: Mapping[str, Any], scopes: frozenset[str] | set[str], sub: str) -> dict[str, Any]:
    """The userinfo response for a user's stored ``claims`` and the token's granted ``scopes``.

    ``sub`` always; then each granted scope's claims that have a value (§5.3.2: omit the rest).
    """
    body: dict[str, Any] = {"sub": sub}
    for scope, names in SCOPE_CLAIMS.items():
        if scope not in scopes:
            continue
        for name in names:
            value = claims.get(name)
            if value is None:
                continue
            verified = _VERIFIES.get(name)
            if verified is not None and claims.get(verified) is None:
                continue
            body[name] = value
    return body
