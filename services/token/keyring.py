"""Signing keys of each application, held in memory.

The first token of an application asks the keys service for its current private keys (one
internal call, deduplicated when many requests arrive at once); later tokens sign with the
parsed key in memory. Any ``signing_key.*`` event of that application, seen on NATS, drops the
entry so the next token picks up the new key. Verification keys (for introspection) come from
the application's public JWKS (:mod:`shared.jwks_cache`), re-fetched on an unknown ``kid``.
"""
from __future__ import annotations

import asyncio

import aiohttp
import orjson

from shared import jws
from shared.jwks_cache import RemoteJwks
from shared.logging import get_logger

log = get_logger("tessera.token.keyring")


class KeysUnavailable(Exception):
    """The keys service could not provide a key (reported to clients as temporarily_unavailable)."""


class KeyRing:
    def __init__(self, session: aiohttp.ClientSession, keys_url: str, internal_token: str) -> None:
        self.session = session
        self.keys_url = keys_url
        self.auth = {"Authorization": f"Bearer {internal_token}"}
        self._current: dict[str, dict[str, dict]] = {}             # application -> alg -> private JWK
        self._signing: dict[tuple[str, str], jws.SigningKey] = {}   # parsed on first use only
        self._pending: dict[str, asyncio.Future] = {}
        self._verify = RemoteJwks(session, keys_url)

    async def signing_key(self, application_id: str, tenant_id: str, alg: str) -> jws.SigningKey:
        key = self._signing.get((application_id, alg))
        if key is not None:
            return key
        jwks = self._current.get(application_id)
        if jwks is None:
            jwks = await self._load(application_id, tenant_id)
        if alg not in jwks:
            raise KeysUnavailable(f"no current {alg} key for {application_id}")
        # Parsing is done once per key, and only for the algorithm the application signs with
        # (checking an RSA private key costs milliseconds).
        key = self._signing[(application_id, alg)] = jws.SigningKey.from_jwk(jwks[alg])
        return key

    async def prepare(self, application_id: str, tenant_id: str) -> None:
        """Have the keys service create an application's keys now, so its JWKS is published
        before its first token (the keys service's event consumer would do it moments later)."""
        try:
            await self._load(application_id, tenant_id)
        except KeysUnavailable as exc:
            log.warning("keyring.prepare_failed", application=application_id, detail=str(exc))

    async def _load(self, application_id: str, tenant_id: str) -> dict[str, dict]:
        pending = self._pending.get(application_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[application_id] = future
        try:
            keys = await self._fetch(application_id, tenant_id)
            self._current[application_id] = keys
            future.set_result(keys)
            return keys
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it
            raise
        finally:
            del self._pending[application_id]

    async def _fetch(self, application_id: str, tenant_id: str) -> dict[str, dict]:
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
        keys = {item["alg"]: item["private_jwk"] for item in body["keys"] if item["status"] == "current"}
        log.info("keyring.loaded", application=application_id, kids=[k.get("kid") for k in keys.values()])
        return keys

    async def verification_keys(self, application_id: str, kid: str | None) -> jws.VerificationKeys | None:
        """The application's published keys (:mod:`shared.jwks_cache`: re-fetched on an unknown ``kid``)."""
        return await self._verify.keys(application_id, kid)

    def forget(self, application_id: str | None = None) -> None:
        """Drop cached keys of one application (or all): the next use re-fetches."""
        if application_id is None:
            self._current.clear()
            self._signing.clear()
            self._verify.forget()
        else:
            self._current.pop(application_id, None)
            self._verify.forget(application_id)
            for key in [k for k in self._signing if k[0] == application_id]:
                del self._signing[key]

    async def on_key_event(self, msg) -> None:
        """NATS callback for ``tessera.keys.>``: a key of an application changed."""
        try:
            envelope = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        kind = str(envelope.get("type", ""))
        if not kind.startswith("signing_key."):
            return
        application = envelope.get("application")
        data = envelope.get("data") or {}
        held = self._current.get(application) or {}
        if kind in ("signing_key.created", "signing_key.activated") and data.get("status", "current") == "current" \
                and data.get("kid") in {jwk.get("kid") for jwk in held.values()}:
            return  # the key this process already signs with (it asked for it at creation)
        self.forget(application)
