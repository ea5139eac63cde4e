"""Published JWKS documents of the suite's applications, fetched from the keys service and
kept parsed in memory, for services that verify the suite's own tokens.

``keys(application, kid)`` answers from memory while the entry is younger than ``ttl``; a
``kid`` the cached set lacks triggers one re-fetch, at most every ``min_refresh`` seconds per
application (so a flood of tokens with made-up ``kid`` values costs one request, not one per
token). Concurrent misses share one fetch. ``forget`` drops an entry at once: callers wire it to
the keys service's ``signing_key.*`` events, so an emergency revocation takes effect without
waiting for the ttl. When the keys service cannot be reached, the last good set is used.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

import aiohttp
import orjson

from . import jws

TTL_S = 300.0
MIN_REFRESH_S = 5.0


class RemoteJwks:
    """``{keys_service_url}/{application}/jwks.json``, parsed once per fetch."""

    def __init__(self, session: aiohttp.ClientSession, keys_service_url: str, *, ttl: float = TTL_S,
                 min_refresh: float = MIN_REFRESH_S, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.base = keys_service_url.rstrip("/")
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, jws.VerificationKeys]] = {}
        self._pending: dict[str, asyncio.Future] = {}
        self._generation = 0          # bumped by forget(): a fetch racing it is not kept

    async def keys(self, application_id: str, kid: str | None) -> jws.VerificationKeys | None:
        """The application's published keys; None when it publishes none (or was never reachable)."""
        entry = self._entries.get(application_id)
        if entry is not None:
            fetched_at, keys = entry
            age = self._clock() - fetched_at
            if age < self.ttl and (kid is None or kid in keys or age < self.min_refresh):
                return keys
        return await self._refresh(application_id)

    def forget(self, application_id: str | None = None) -> None:
        """Drop one application's keys (or all): the next token re-fetches them."""
        self._generation += 1
        if application_id is None:
            self._entries.clear()
        else:
            self._entries.pop(application_id, None)

    async def _refresh(self, application_id: str) -> jws.VerificationKeys | None:
        pending = self._pending.get(application_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[application_id] = future
        try:
            keys = await self._fetch(application_id)
            future.set_result(keys)
            return keys
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()      # retrieved: waiters re-raise it
            raise
        finally:
            del self._pending[application_id]

    async def _fetch(self, application_id: str) -> jws.VerificationKeys | None:
        generation = self._generation
        previous = self._entries.get(application_id)
        try:
            async with self.session.get(f"{self.base}/{application_id}/jwks.json",
                                        timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status == 404:
                    keys = None          # publishes no key (unknown, deleted, every key revoked)
                elif resp.status != 200:
                    return previous[1] if previous else None
                else:
                    keys = jws.VerificationKeys.from_jwks(orjson.loads(await resp.read()))
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, ValueError):
            return previous[1] if previous else None
        if keys is None:
            self._entries.pop(application_id, None)
            return None
        if generation == self._generation:
            if application_id not in self._entries and len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[application_id] = (self._clock(), keys)
        return keys
