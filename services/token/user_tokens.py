"""Tokens of a user's grant (the code and refresh grants): minted, recorded, revoked.

A response carries an access token, maybe an ID token and a refresh token; it leaves only once
its events (``access_token.issued``, ``refresh_token.issued`` or ``.rotated``) are committed with
the refresh token rows they describe, in one group-committed statement (:class:`TokenLog`).

Revocation (a reused refresh token or code, RFC 7009 on a refresh token) revokes a whole family:
every refresh token, and every access token issued with one that may still be live, each with its
event. These paths are rare and written plainly.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from shared import crypto
from shared.events import ConcurrencyError, EventStore, NewEvent
from shared.logging import get_logger

from . import events as ev
from .keyring import KeyRing
from .model import Application, Client
from .oauth.access_token import JWT_HEADER, jwt_claims, token_response
from .oauth.decision import GrantDecision
from .oauth.id_token import ID_TOKEN_ALG, ID_TOKEN_HEADER, id_token_claims
from .oauth.scopes import format_scope
from .oauth.user_grant import UserGrant, issues_refresh_token
from .refresh_tokens import RefreshTokens, TokenLog, Write, timestamp
from .tokens import TokenStore

log = get_logger("tessera.token.user_grants")


@dataclass(frozen=True, slots=True)
class Prepared:
    """Ids chosen before the request's state is taken (a code's tombstone names them)."""
    jti: str
    family_id: str
    opaque_token: str      # the access token, should the client's format be opaque

    @classmethod
    def new(cls) -> "Prepared":
        return cls(crypto.new_ordered_id(), crypto.new_ordered_id(), crypto.new_secret())


class UserTokens:
    def __init__(self, keyring: KeyRing, tokens: TokenStore, store: EventStore, log_: TokenLog,
                 refresh: RefreshTokens) -> None:
        self.keyring = keyring
        self.tokens = tokens
        self.store = store
        self.log = log_
        self.refresh = refresh

    def refresh_hash(self, token: str) -> str:
        return self.tokens.opaque_hash(token)

    async def issue(self, app: Application, client: Client, grant: UserGrant, prepared: Prepared, *,
                    consume: str | None = None) -> dict[str, Any]:
        """The token response body for ``grant``, once its events are durable.

        Everything the write records is decided before it goes (ids, the access token and its
        ``kid``, the ID token's claims); the ID token is signed while the write is in flight, so
        its signature and the write's round trip overlap. Nothing leaves before the write
        commits, and a failed write discards the signed tokens.

        ``consume``: the hash of the refresh token this request rotates (spent in the same write).
        Raises ``GuardFailed`` (client or application changed) or ``TokenSpent`` (the token to
        rotate was used or revoked meanwhile); then nothing was written.
        """
        now = int(time.time())
        settings = app.settings
        decision = GrantDecision(grant_type=grant.grant_type, client_id=client.client_id, subject=grant.subject,
                                 scopes=grant.scopes, audience=(app.issuer,), lifetime=settings.access_token_ttl)
        token_format = client.access_token_format or settings.access_token_format
        claims = jwt_claims(decision, app, jti=prepared.jti, now=_at(now))
        access_hash = kid = digest = None
        if token_format == "jwt":
            key = await self.keyring.signing_key(app.id, app.tenant_id, settings.access_token_alg)
            access_token, kid = await key.sign_async(JWT_HEADER, claims), key.kid
        else:
            access_token = prepared.opaque_token
            access_hash = self.tokens.opaque_hash(access_token)
            digest = crypto.digest(access_hash)
        body = token_response(access_token, decision)
        id_key = id_claims = None
        if grant.openid:   # the key now: a missing key must fail the request before anything is written
            id_key = await self.keyring.signing_key(app.id, app.tenant_id, ID_TOKEN_ALG)
            id_claims = id_token_claims(grant, issuer=app.issuer, access_token=access_token, now=now,
                                        ttl=settings.id_token_ttl)
        events = [NewEvent(ev.ACCESS_TOKEN_ISSUED, {
            "grant_id": grant.grant_id, "grant_type": grant.grant_type, "client_id": client.client_id,
            "subject": grant.subject, "scope": format_scope(grant.scopes), "jti": prepared.jti,
            "format": token_format, "token_digest": digest, "expires_at": ev.expiry(claims["exp"]), "kid": kid,
        }, tenant=app.tenant_id, application=app.id)]
        streams = [ev.grant_stream(prepared.jti)]
        row = None
        if issues_refresh_token(client.grant_types, grant.grant_scopes):
            refresh_token = crypto.new_secret()
            token_hash = self.tokens.opaque_hash(refresh_token)
            token_id, family_id = crypto.new_ordered_id(), grant.family_id or prepared.family_id
            expires = now + settings.refresh_token_ttl
            row = {"token_hash": token_hash, "token_id": token_id, "family_id": family_id,
                   "grant_id": grant.grant_id, "tenant_id": app.tenant_id, "application_id": app.id,
                   "client_id": client.client_id, "subject": grant.subject, "scopes": list(grant.grant_scopes),
                   "claims": grant.sign_in.to_json(), "issued_at": timestamp(now), "expires_at": timestamp(expires),
                   "access_jti": prepared.jti,
                   "access_exp": claims["exp"], "access_hash": access_hash}
            data = {"grant_id": grant.grant_id, "family_id": family_id, "token_id": token_id,
                    "client_id": client.client_id, "subject": grant.subject,
                    "scope": format_scope(grant.grant_scopes), "jti": prepared.jti,
                    "token_digest": crypto.digest(token_hash), "expires_at": ev.expiry(expires)}
            if grant.previous_token_id is None:
                events.append(NewEvent(ev.REFRESH_TOKEN_ISSUED, data, tenant=app.tenant_id, application=app.id))
            else:
                events.append(NewEvent(ev.REFRESH_TOKEN_ROTATED, {**data, "previous_token_id": grant.previous_token_id},
                                       tenant=app.tenant_id, application=app.id))
            streams.append(ev.refresh_token_stream(token_id))
            body["refresh_token"] = refresh_token
        built = [self.store.build(stream, 0, [new])[0] for stream, new in zip(streams, events)]
        if access_hash is not None:
            await self.tokens.put_opaque(access_hash, claims, decision.lifetime)
        try:
            # The ID token's signature (RS256: about a millisecond of CPU, the costliest step of
            # the request) is made while the write is on its way to Postgres, not before it.
            sent = asyncio.get_running_loop().create_future() if id_key is not None else None
            written = self.log.submit(Write(app.id, client.client_id, client.version, app.version, built,
                                            consume=consume, refresh=row), sent)
            if id_key is not None:
                await sent
                if not (written.done() and written.exception() is not None):
                    body["id_token"] = await id_key.sign_async(ID_TOKEN_HEADER, id_claims)
            await written
        except BaseException:
            if access_hash is not None:
                await self.tokens.drop_opaque(access_hash)
            raise
        return body

    # Revocation ---------------------------------------------------------------------------------
    async def revoke_family(self, app: Application, family_id: str, *, reason: str,
                            reused: dict[str, str] | None = None) -> int:
        """Revoke a family and its live access tokens; returns how many refresh tokens it revoked."""
        rows = await self.refresh.revoke_family(app.id, family_id)
        now = int(time.time())
        for row in rows:
            if row["access_jti"] and row["access_exp"] and row["access_exp"] > now:
                await self.revoke_access_token(app, row["grant_id"], row["client_id"], row["access_jti"],
                                               int(row["access_exp"]), row["access_hash"], reason)
        new = []
        if reused is not None:
            new.append(NewEvent(ev.REFRESH_TOKEN_REUSED, reused, tenant=app.tenant_id, application=app.id))
        if rows:
            first = rows[0]
            new.append(NewEvent(ev.REFRESH_TOKEN_REVOKED, {
                "grant_id": first["grant_id"], "family_id": family_id, "client_id": first["client_id"],
                "subject": first["subject"], "reason": reason, "tokens": len(rows)},
                tenant=app.tenant_id, application=app.id))
        if new:
            await self._append(ev.refresh_family_stream(family_id), new)
        return len(rows)

    async def revoke_access_token(self, app: Application, grant_id: str, client_id: str, jti: str, exp: int,
                                  access_hash: str | None, reason: str) -> None:
        """Revoke one access token of a user grant, if it was issued and not revoked yet."""
        if access_hash is not None:
            await self.tokens.drop_opaque(access_hash)
        else:
            await self.tokens.revoke_jwt(jti, exp)
        stream = ev.grant_stream(jti)
        history = await self.store.load(stream)
        if not history or any(e.type == ev.ACCESS_TOKEN_REVOKED for e in history):
            return   # never issued (a code taken but not redeemed), or revoked already
        try:
            await self.store.append(stream, len(history), [NewEvent(ev.ACCESS_TOKEN_REVOKED, {
                "grant_id": grant_id, "jti": jti, "client_id": client_id, "reason": reason,
            }, tenant=app.tenant_id, application=app.id)])
        except ConcurrencyError:
            pass    # revoked by a concurrent request

    async def code_reused(self, app: Application, tombstone: dict[str, Any], code_digest: str) -> None:
        """A redeemed code came back: revoke what its redemption issued (RFC 9700 §4.2.4)."""
        issued, code = tombstone.get("issued") or {}, tombstone.get("code") or {}
        grant_id, client_id, subject = code.get("grant_id"), code.get("client_id"), code.get("subject")
        if not (isinstance(grant_id, str) and isinstance(client_id, str) and isinstance(subject, str)):
            return
        if isinstance(issued.get("family_id"), str):
            await self.revoke_family(app, issued["family_id"], reason="code_reused")
        if isinstance(issued.get("jti"), str) and isinstance(issued.get("exp"), int):
            access_hash = issued.get("access_hash")
            await self.revoke_access_token(app, grant_id, client_id, issued["jti"], issued["exp"],
                                           access_hash if isinstance(access_hash, str) else None, "code_reused")
        await self._append(ev.grant_stream(grant_id), [NewEvent(ev.AUTHORIZATION_CODE_REUSED, {
            "grant_id": grant_id, "client_id": client_id, "subject": subject, "code_digest": code_digest,
        }, tenant=app.tenant_id, application=app.id)])

    async def _append(self, stream: str, new: list[NewEvent]) -> None:
        for _attempt in range(3):
            history = await self.store.load(stream)
            try:
                await self.store.append(stream, len(history), new)
                return
            except ConcurrencyError:
                continue
        log.warning("user_grants.append_conflict", stream=stream)


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)
