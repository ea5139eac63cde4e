"""Rendered JWKS documents (RFC 7517 §5), cached in memory per application.

The JWKS is read on every token verification a relying party does not cache, so the bytes
are rendered once and kept ``ttl`` seconds (5 by default). This process drops an
application's entry as soon as it changes that application's keys (its own appends), so it
never serves its own stale keys; a change made by another replica shows here within ``ttl``
seconds. That bound is small beside the ``Cache-Control: max-age=300`` relying parties apply,
and the key lifecycle publishes a key long before it signs. Unknown applications are not
cached (a key created on another replica must be served at once).
"""
from __future__ import annotations

import time
from typing import Awaitable, Callable

import orjson

from . import repository

Loader = Callable[[str], Awaitable[list[dict]]]


class JwksCache:
    def __init__(self, load: Loader, *, ttl: float = 5.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._generation = 0   # bumped by every invalidation: a load racing one is not kept

    @classmethod
    def for_pool(cls, pool, **kwargs) -> "JwksCache":
        return cls(lambda app: repository.public_jwks(pool, app), **kwargs)

    async def get(self, application_id: str) -> bytes | None:
        """The JWKS document of the application, or None when it publishes no key."""
        now = self._clock()
        entry = self._entries.get(application_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = self._generation
        keys = await self._load(application_id)
        if not keys:
            self._entries.pop(application_id, None)
            return None
        body = orjson.dumps({"keys": keys})
        if generation == self._generation:
            if application_id not in self._entries and len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))   # drop the oldest insertion
            self._entries[application_id] = (now + self.ttl, body)
        return body

    def invalidate(self, application_id: str) -> None:
        self._generation += 1
        self._entries.pop(application_id, None)
