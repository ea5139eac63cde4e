"""Minting, finding and revoking access tokens, each recorded as a durable event.

No token leaves before its ``access_token.issued`` event is committed in Postgres (the
outbox then carries it to NATS); no revocation is acknowledged before its
``access_token.revoked`` event is.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from shared import crypto, jws
from shared.events import ConcurrencyError, EventStore, NewEvent

from . import events as ev
from .grant_log import GrantLog
from .keyring import KeyRing
from .model import Application, Client
from .oauth.access_token import JWT_HEADER, jwt_claims
from .oauth.decision import GrantDecision
from .tokens import TokenStore

JWT_ALGORITHMS = ("RS256", "ES256", "EdDSA")



def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class Issuer:
    def __init__(self, keyring: KeyRing, tokens: TokenStore, store: EventStore, grants: GrantLog) -> None:
        self.keyring = keyring
        self.tokens = tokens
        self.store = store
        self.grants = grants

    async def issue(self, app: Application, client: Client, decision: GrantDecision, token_format: str) -> str:
        """A new access token for ``decision``; returns it once its grant event is durable.

        Raises :class:`GuardFailed` when the client or application changed since they were read.
        """
        now = datetime.now(timezone.utc)
        jti = crypto.new_ordered_id()
        claims = jwt_claims(decision, app, jti=jti, now=now)
        kid = token_digest = None
        token_hash = None
        if token_format == "jwt":
            key = await self.keyring.signing_key(app.id, app.tenant_id, app.settings.access_token_alg)
            token, kid = await key.sign_async(JWT_HEADER, claims), key.kid
        else:
            token = crypto.new_secret()
            token_hash = self.tokens.opaque_hash(token)
            token_digest = crypto.digest(token_hash)
            await self.tokens.put_opaque(token_hash, claims, decision.lifetime)
        event = NewEvent("access_token.issued", {
            "grant_id": jti, "grant_type": decision.grant_type, "client_id": decision.client_id,
            "subject": decision.subject, "scope": " ".join(decision.scopes), "jti": jti,
            "format": token_format, "token_digest": token_digest,
            "expires_at": ev.expiry(claims["exp"]), "kid": kid,
        }, tenant=app.tenant_id, application=app.id)
        try:
            # Durable before the response; written only if client and application are unchanged.
            await self.grants.record(f"grant:{jti}", event, client_id=client.client_id,
                                     client_version=client.version, application_version=app.version)
        except BaseException:
            if token_hash is not None:
                await self.tokens.drop_opaque(token_hash)
            raise
        return token

    async def find(self, app: Application, token: str) -> dict[str, Any] | None:
        """The claims of a live token of ``app``, or None (unknown, foreign, expired, revoked)."""
        if _looks_like_jwt(token):
            claims = await self._verify_jwt(app, token)
            if claims is not None and await self.tokens.is_revoked(claims.get("jti", "")):
                return None
        else:   # a revoked opaque token is gone from Redis: one look-up answers everything
            claims = await self.tokens.get_opaque(token)
            if claims is not None and claims.get("iss") != app.issuer:
                return None  # another application's token: useless here
        if claims is None or claims.get("exp", 0) <= time.time():
            return None
        return claims

    async def _verify_jwt(self, app: Application, token: str) -> dict[str, Any] | None:
        try:
            header = jws.peek_header(token)
            keys = await self.keyring.verification_keys(app.id, header.get("kid"))
            if keys is None:
                return None
            _header, claims = jws.verify(token, keys, algorithms=JWT_ALGORITHMS, typ="at+jwt")
            jws.validate_claims(claims, issuer=app.issuer)
        except jws.JWSError:
            return None
        return claims

    async def revoke(self, app: Application, token: str, claims: dict[str, Any], reason: str) -> bool:
        """Revoke a live token; False when it had been revoked already."""
        jti = claims["jti"]
        if _looks_like_jwt(token):
            await self.tokens.revoke_jwt(jti, int(claims["exp"]))
        else:
            await self.tokens.drop_opaque(self.tokens.opaque_hash(token))
        stream = f"grant:{jti}"
        history = await self.store.load(stream)
        if any(e.type == "access_token.revoked" for e in history):
            return False
        event = NewEvent("access_token.revoked", {
            "grant_id": jti, "jti": jti, "client_id": claims.get("client_id"), "reason": reason,
        }, tenant=app.tenant_id, application=app.id)
        try:
            await self.store.append(stream, len(history), [event])
        except ConcurrencyError:
            return False
        return True
