"""A user's username and OpenID Connect standard claims (OIDC Core §5.1), checked one by one.

Each checker takes the raw JSON value and returns the stored value or raises ``invalid_request``.
``None`` clears an optional claim. ``updated_at`` is not input: it is the time of the event.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from .errors import fail

MAX_USERNAME = 128
MAX_TEXT = 200
MAX_URL = 2000
MAX_EMAIL = 254
MAX_ADDRESS_PART = 500

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")                      # OIDC Core §5.1 recommends E.164
BIRTHDATE = re.compile(r"^([0-9]{4})(-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))?$")  # YYYY or YYYY-MM-DD
LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")  # BCP47 (OIDC allows "_")
ZONEINFO = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")  # IANA tz names: Europe/Paris
ADDRESS_PARTS = ("formatted", "street_address", "locality", "region", "postal_code", "country")


def _has_control(value: str, *, newlines: bool = False) -> bool:
    return any((ord(ch) < 0x20 and not (newlines and ch in "\r\n")) or ord(ch) == 0x7F for ch in value)


def username(value: Any) -> str:
    """1 to 128 characters, no whitespace or control characters; unique per tenant, any case."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_USERNAME:
        raise fail(f"username must be a string of 1 to {MAX_USERNAME} characters")
    if any(ch.isspace() for ch in value) or _has_control(value):
        raise fail("username must not contain whitespace or control characters")
    return value


def _text(what: str, limit: int = MAX_TEXT) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= limit:
            raise fail(f"{what} must be a string of 1 to {limit} characters, or null")
        if _has_control(value):
            raise fail(f"{what} must not contain control characters")
        return value.strip()
    return check


def _pattern(what: str, pattern: re.Pattern, hint: str, limit: int = MAX_TEXT) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > limit or not pattern.match(value):
            raise fail(f"{what} must be {hint}, or null")
        return value
    return check


def _url(what: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value or len(value) > MAX_URL or _has_control(value) \
                or any(ch.isspace() for ch in value):
            raise fail(f"{what} must be an http(s) URL of at most {MAX_URL} characters, or null")
        try:
            parts = urlsplit(value)
        except ValueError:
            raise fail(f"{what} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise fail(f"{what} must be an absolute http(s) URL")
        return value
    return check


def _boolean(what: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise fail(f"{what} must be true or false")
        return value
    return check


def email(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_EMAIL or not EMAIL.match(value) or _has_control(value):
        raise fail(f"email must be an email address of at most {MAX_EMAIL} characters, or null")
    return value


def address(value: Any) -> dict[str, str | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail("address must be an object (OIDC Core §5.1.1), or null")
    unknown = sorted(set(value) - set(ADDRESS_PARTS))
    if unknown:
        raise fail(f"unknown address field(s): {', '.join(unknown)}")
    out: dict[str, str | None] = {}
    for part in ADDRESS_PARTS:
        item = value.get(part)
        if item is not None and (not isinstance(item, str) or not 1 <= len(item) <= MAX_ADDRESS_PART
                                 or _has_control(item, newlines=part == "formatted")):
            raise fail(f"address.{part} must be a string of 1 to {MAX_ADDRESS_PART} characters, or null")
        out[part] = item
    return out


def birthdate(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not BIRTHDATE.match(value):
        raise fail("birthdate must be YYYY or YYYY-MM-DD (OIDC Core §5.1), or null")
    return value


# Every claim a user may have, with its checker; the order is the order of the representation.
CLAIMS: dict[str, Callable[[Any], Any]] = {
    "email": email,
    "email_verified": _boolean("email_verified"),
    "phone_number": _pattern("phone_number", E164, "an E.164 number such as +14155550123", 16),
    "phone_number_verified": _boolean("phone_number_verified"),
    "name": _text("name"),
    "given_name": _text("given_name"),
    "family_name": _text("family_name"),
    "middle_name": _text("middle_name"),
    "nickname": _text("nickname"),
    "preferred_username": _text("preferred_username"),
    "profile": _url("profile"),
    "picture": _url("picture"),
    "website": _url("website"),
    "gender": _text("gender", 50),
    "birthdate": birthdate,
    "zoneinfo": _pattern("zoneinfo", ZONEINFO, "an IANA time zone name such as Europe/Paris", 64),
    "locale": _pattern("locale", LOCALE, "a BCP47 language tag such as en-US", 35),
    "address": address,
}
BOOLEAN_CLAIMS = ("email_verified", "phone_number_verified")
EDITABLE = ("username", *CLAIMS)


def defaults() -> dict[str, Any]:
    """A new user's claims before input: every claim unset, nothing verified."""
    return {name: (False if name in BOOLEAN_CLAIMS else None) for name in CLAIMS}


def checked(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each claim of ``values`` checked (unknown names are the caller's to refuse)."""
    return {name: CLAIMS[name](value) for name, value in values.items()}


def known_fields(data: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise fail(f"unknown {what} field(s): {', '.join(unknown)}")
