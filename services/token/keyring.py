"""Signing keys of each application, held in memory.

The first token of an application asks the keys service for its current private keys (one
internal call, deduplicated when many requests arrive at once); later tokens sign with the
parsed key in memory. Any ``signing_key.*`` event of that application, seen on NATS, drops the
entry so the next token picks up the new key. Verification keys (for introspection) come from
the application's public JWKS, re-fetched on an unknown ``kid``.
"""
from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from shared import jws
from shared.logging import get_logger

log = get_logger("tessera.token.keyring")
VERIFY_TTL_S = 300.0
VERIFY_MIN_REFRESH_S = 5.0


class KeysUnavailable(Exception):
    """The keys service could not provide a key (reported to clients as temporarily_unavailable)."""


class KeyRing:
    def __init__(self, session: aiohttp.ClientSession, keys_url: str, internal_token: str) -> None:
        self.session = session
        self.keys_url = keys_url
        self.auth = {"Authorization": f"Bearer {internal_token}"}
        self._signing: dict[str, dict[str, jws.SigningKey]] = {}
        self._pending: dict[str, asyncio.Future] = {}
        self._verify: dict[str, tuple[float, jws.VerificationKeys]] = {}

    async def signing_key(self, application_id: str, tenant_id: str, alg: str) -> jws.SigningKey:
        keys = self._signing.get(application_id)
        if keys is None:
            keys = await self._load(application_id, tenant_id)
        try:
            return keys[alg]
        except KeyError:
            raise KeysUnavailable(f"no current {alg} key for {application_id}") from None

    async def prepare(self, application_id: str, tenant_id: str) -> None:
        """Have the keys service create an application's keys now, so its JWKS is published
        before its first token (the keys service's event consumer would do it moments later)."""
        try:
            await self._load(application_id, tenant_id)
        except KeysUnavailable as exc:
            log.warning("keyring.prepare_failed", application=application_id, detail=str(exc))

    async def _load(self, application_id: str, tenant_id: str) -> dict[str, jws.SigningKey]:
        pending = self._pending.get(application_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[application_id] = future
        try:
            keys = await self._fetch(application_id, tenant_id)
            self._signing[application_id] = keys
            future.set_result(keys)
            return keys
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it
            raise
        finally:
            del self._pending[application_id]

    async def _fetch(self, application_id: str, tenant_id: str) -> dict[str, jws.SigningKey]:
        url = f"{self.keys_url}/internal/applications/{application_id}/signing-keys"
        try:
            async with self.session.post(url, data=orjson.dumps({"tenant_id": tenant_id}), headers={
                    **self.auth, "Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status != 200:
                    raise KeysUnavailable(f"keys service answered {resp.status}")
                body = orjson.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KeysUnavailable(f"keys service unreachable: {type(exc).__name__}") from None
        keys = {}
        for item in body["keys"]:
            if item["status"] == "current":
                keys[item["alg"]] = jws.SigningKey.from_jwk(item["private_jwk"])
        log.info("keyring.loaded", application=application_id, kids=[k.kid for k in keys.values()])
        return keys

    async def verification_keys(self, application_id: str, kid: str | None) -> jws.VerificationKeys | None:
        """The application's published keys; re-fetched once when ``kid`` is not among them."""
        now = time.monotonic()
        cached = self._verify.get(application_id)
        if cached is not None:
            fetched_at, keys = cached
            fresh = now - fetched_at < VERIFY_TTL_S
            if fresh and (kid is None or kid in keys or now - fetched_at < VERIFY_MIN_REFRESH_S):
                return keys
        try:
            async with self.session.get(f"{self.keys_url}/{application_id}/jwks.json",
                                        timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status != 200:
                    return cached[1] if cached else None
                keys = jws.VerificationKeys.from_jwks(orjson.loads(await resp.read()))
        except (aiohttp.ClientError, TimeoutError):
            return cached[1] if cached else None
        self._verify[application_id] = (now, keys)
        return keys

    def forget(self, application_id: str | None = None) -> None:
        """Drop cached keys of one application (or all): the next use re-fetches."""
        if application_id is None:
            self._signing.clear()
            self._verify.clear()
        else:
            self._signing.pop(application_id, None)
            self._verify.pop(application_id, None)

    async def on_key_event(self, msg) -> None:
        """NATS callback for ``tessera.keys.>``: a key of an application changed."""
        try:
            envelope = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        if str(envelope.get("type", "")).startswith("signing_key."):
            self.forget(envelope.get("application"))
