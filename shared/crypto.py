"""Secrets Tessera generates, and how it stores and compares them.

Generated secrets carry 256 bits of entropy, so a keyed fast hash protects them at rest:
HMAC-SHA-256 under the server-side pepper (``TESSERA_SECRET_PEPPER``). A slow password hash
here would cap the token endpoint at a few hundred grants per second. User passwords are a
different matter (argon2id, authn service only).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import string
import time
import uuid


class _RandomPool:
    """Bytes from the operating system's CSPRNG (``os.urandom``), fetched a page at a time.

    The token endpoint needs several random values per request (token id, event id, request
    id, opaque token); one ``getrandom`` system call per value cost ~5 µs each under load here.
    Node.js's ``crypto.randomUUID`` keeps the same kind of cache. Each byte is handed out once;
    a forked child starts with an empty pool, so parent and child never share bytes.
    """

    PAGE = 4096

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._buffer, self._offset = b"", 0

    def take(self, n: int) -> bytes:
        if n > self.PAGE // 4:
            return os.urandom(n)
        end = self._offset + n
        if end > len(self._buffer):
            self._buffer, self._offset, end = os.urandom(self.PAGE), 0, n
        chunk = self._buffer[self._offset:end]
        self._offset = end
        return chunk


_pool = _RandomPool()
random_bytes = _pool.take


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret of ``nbytes`` bytes of entropy (default 256 bits)."""
    return base64.urlsafe_b64encode(random_bytes(nbytes)).rstrip(b"=").decode("ascii")


def new_id(nbytes: int = 16) -> str:
    """A URL-safe random identifier (default 128 bits)."""
    return new_secret(nbytes)


def new_ordered_id() -> str:
    """A URL-safe identifier that starts with the time: 48 bits of Unix milliseconds, then 80
    random bits (16 bytes, 22 characters, like :func:`new_id`).

    For ids that name an event stream (a grant, a refresh token, its family), which a B-tree
    index of ``events`` keys: ids made in the same seconds share their first characters, so
    their inserts fill the same few index pages instead of touching a random page each. With
    500,000 grant events stored, that cost Postgres ≈10% less CPU and ≈23% less WAL per event
    (docs/performance-log.md, session 6). 80 random bits keep two ids of one millisecond apart.
    """
    return base64.urlsafe_b64encode(_time_ordered()).rstrip(b"=").decode("ascii")


def _time_ordered() -> bytes:
    """16 bytes: 48 bits of Unix milliseconds, then 80 random bits."""
    return (time.time_ns() // 1_000_000).to_bytes(6, "big") + random_bytes(10)


def new_request_id() -> str:
    """A request id: 128 random bits, hex."""
    return random_bytes(16).hex()


def new_uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.

    Event ids use it: ids made one after another sort together, so the index of a service's
    event ids grows at its right edge instead of touching a random page per insert.
    """
    value = int.from_bytes(_time_ordered(), "big")
    return uuid.UUID(int=value & _CLEAR_VERSION_VARIANT | _VERSION_7_VARIANT)


_CLEAR_VERSION_VARIANT = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_VERSION_7_VARIANT = (0x7 << 76) | (0x2 << 62)

_ALPHANUMERIC = string.ascii_letters + string.digits


def new_client_id(length: int = 22) -> str:
    """A random client id of letters and digits (22 characters: 130 bits).

    No ``-`` or ``_``: an id that starts with ``-`` reads as an option on every command line.
    """
    alphabet = len(_ALPHANUMERIC)   # 62; bytes >= 248 are dropped so every character is equally likely
    out: list[str] = []
    while len(out) < length:
        out.extend(_ALPHANUMERIC[b % alphabet] for b in random_bytes(length) if b < 248)
    return "".join(out[:length])


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
