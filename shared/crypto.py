"""Secrets Tessera generates, and how it stores and compares them.

Generated secrets carry 256 bits of entropy, so a keyed fast hash protects them at rest:
HMAC-SHA-256 under the server-side pepper (``TESSERA_SECRET_PEPPER``). A slow password hash
here would cap the token endpoint at a few hundred grants per second. User passwords are a
different matter (argon2id, authn service only).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
import time
import uuid


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret of ``nbytes`` bytes of entropy (default 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def new_id(nbytes: int = 16) -> str:
    """A URL-safe random identifier (default 128 bits)."""
    return secrets.token_urlsafe(nbytes)


def new_uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.

    Event ids use it: ids made one after another sort together, so the index of a service's
    event ids grows at its right edge instead of touching a random page per insert.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big") & _RANDOM_74
    return uuid.UUID(int=value & _CLEAR_VERSION_VARIANT | _VERSION_7_VARIANT)


_RANDOM_74 = (1 << 80) - 1
_CLEAR_VERSION_VARIANT = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_VERSION_7_VARIANT = (0x7 << 76) | (0x2 << 62)

_ALPHANUMERIC = string.ascii_letters + string.digits


def new_client_id(length: int = 22) -> str:
    """A random client id of letters and digits (22 characters: 130 bits).

    No ``-`` or ``_``: an id that starts with ``-`` reads as an option on every command line.
    """
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def secret_hash(pepper: bytes, secret: str) -> str:
    """The stored form of a generated secret: hex HMAC-SHA-256 under the pepper."""
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def digest(value: str) -> str:
    """A public digest of a stored hash or id (what events may carry): hex SHA-256."""
    return hashlib.sha256(value.encode()).hexdigest()


def equal(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode(), b.encode())


def matches(pepper: bytes, secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` is the one whose hash is ``stored_hash`` (constant time)."""
    return equal(secret_hash(pepper, secret), stored_hash)
