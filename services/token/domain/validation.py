"""Checks of single input values, shared by the aggregates. Each raises ``invalid_request``."""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from .errors import fail

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
GENERATED_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")          # 128 bits, URL-safe base64
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")   # RFC 6749 §3.3
SECRET_HASH = re.compile(r"^[0-9a-f]{64}$")
PRIVATE_USE_SCHEME = re.compile(r"^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$")  # RFC 8252 §7.1: reverse DNS
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_NAME = 200
MAX_URL = 2000
MAX_LIST = 100
MAX_SCOPE = 128


def known_fields(data: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise fail(f"unknown {what} field(s): {', '.join(unknown)}")


def slug(value: Any, what: str) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise fail(f"{what} must be 3 to 63 characters of a-z, 0-9 and '-', "
                   "starting and ending with a letter or digit")
    return value


def display_name(value: Any, what: str = "name") -> str:
    if not isinstance(value, str):
        raise fail(f"{what} must be a string")
    value = value.strip()
    if not 1 <= len(value) <= MAX_NAME:
        raise fail(f"{what} must be 1 to {MAX_NAME} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise fail(f"{what} must not contain control characters")
    return value


def one_of(value: Any, choices: Iterable[str], what: str) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise fail(f"{what} must be one of {', '.join(choices)}")
    return value


def integer(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"{what} must be an integer")
    if not low <= value <= high:
        raise fail(f"{what} must be between {low} and {high}")
    return value


def string_list(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise fail(f"{what} must be a list of strings")
    if len(value) > MAX_LIST:
        raise fail(f"{what} may hold at most {MAX_LIST} entries")
    if len(set(value)) != len(value):
        raise fail(f"{what} must not repeat an entry")
    return tuple(value)


def scopes(value: Any, what: str = "scopes") -> tuple[str, ...]:
    items = string_list(value, what)
    for scope in items:
        if len(scope) > MAX_SCOPE or not SCOPE_TOKEN.match(scope):
            raise fail(f"{what}: {scope!r} is not a valid scope token (RFC 6749 §3.3)")
    return items


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain_url(value: Any, what: str):
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        raise fail(f"{what} must be a URL of at most {MAX_URL} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise fail(f"{what} must not contain whitespace or control characters")
    if "#" in value:
        raise fail(f"{what} must not have a fragment")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise fail(f"{what} is not a valid URL") from None
    if not parts.scheme:
        raise fail(f"{what} must be an absolute URL")
    if parts.username is not None or parts.password is not None:
        raise fail(f"{what} must not carry user information")
    return parts


def issuer(value: Any) -> str:
    """An issuer identifier (RFC 8414 §2): https, no query or fragment; http only on loopback."""
    parts = _plain_url(value, "issuer")
    if "?" in value:
        raise fail("issuer must not have a query")
    if not parts.hostname:
        raise fail("issuer must name a host")
    if parts.scheme == "http":
        if not _is_loopback(parts.hostname):
            raise fail("issuer must use https (http is allowed only for 127.0.0.1 and localhost)")
    elif parts.scheme != "https":
        raise fail("issuer must use https")
    if value.endswith("/"):
        raise fail("issuer must not end with '/'")
    return value


def redirect_uri(value: Any) -> str:
    """RFC 6749 §3.1.2 and RFC 8252: https, loopback http, or a private-use (reverse DNS) scheme."""
    parts = _plain_url(value, "redirect_uri")
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not parts.hostname:
            raise fail(f"redirect_uri {value!r} must name a host")
    elif scheme == "http":
        if not parts.hostname or not _is_loopback(parts.hostname):
            raise fail(f"redirect_uri {value!r}: http is allowed only for loopback hosts (RFC 8252 §7.3)")
    elif not PRIVATE_USE_SCHEME.match(scheme):
        raise fail(f"redirect_uri {value!r} must use https, loopback http, or a private-use "
                   "scheme in reverse domain form such as com.example.app (RFC 8252 §7.1)")
    return value


def redirect_uris(value: Any) -> tuple[str, ...]:
    return tuple(redirect_uri(uri) for uri in string_list(value, "redirect_uris"))


def secret_hash(value: Any) -> str:
    """The stored form of a generated secret (a programming error if malformed, not bad input)."""
    if not isinstance(value, str) or not SECRET_HASH.match(value):
        raise ValueError("secret_hash must be a hex HMAC-SHA-256")
    return value
