"""The token endpoint's user grants (``authorization_code``, ``refresh_token``) and what
introspection and revocation do with refresh tokens. Called by :mod:`.oauth` once the client is
authenticated; each step reads as the specification's.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from shared import crypto
from shared.events import GuardFailed
from shared.logging import get_logger

from ..codes import TOMBSTONE_MARGIN, SignInStore
from ..lookup import RegistryCache
from ..model import Application, Client
from ..oauth.authorization_code import AuthorizationCodeGrant, CodeRecord, code_ttl
from ..oauth.errors import InvalidGrant
from ..oauth.refresh_token import RefreshRecord, RefreshTokenGrant, RefreshTokenReused
from ..oauth.scopes import format_scope
from ..refresh_tokens import RefreshTokens, TokenSpent
from ..user_tokens import Prepared, UserTokens

log = get_logger("tessera.token.user_grants")
CODE_GRANT = AuthorizationCodeGrant()
REFRESH_GRANT = RefreshTokenGrant()


class UserGrantEndpoints:
    def __init__(self, registry: RegistryCache, sign_ins: SignInStore, users: UserTokens,
                 refresh: RefreshTokens) -> None:
        self.registry = registry
        self.sign_ins = sign_ins
        self.users = users
        self.refresh = refresh

    # authorization_code -----------------------------------------------------------------------
    async def exchange(self, app: Application, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 6749 §4.1.3: the code, taken once, for tokens."""
        code = CODE_GRANT.check_client(form, client)
        prepared = Prepared.new()
        now = int(time.time())
        token_format = client.access_token_format or app.settings.access_token_format
        issued = {"jti": prepared.jti, "exp": now + app.settings.access_token_ttl + 5, "family_id": prepared.family_id,
                  "access_hash": self.users.tokens.opaque_hash(prepared.opaque_token)
                  if token_format == "opaque" else None}
        taken = await self.sign_ins.take_code(app.id, code, issued, code_ttl(app) + TOMBSTONE_MARGIN)
        if taken.record is None:
            if taken.tombstone is not None:
                log.warning("token.code_reused", client_id=client.client_id)
                await self.users.code_reused(app, taken.tombstone, crypto.digest(self.sign_ins.code_hash(code)))
            raise InvalidGrant("the code is invalid, expired or already used")
        try:
            record = CodeRecord.from_json(taken.record)
        except (TypeError, KeyError):
            raise InvalidGrant("the code is invalid, expired or already used", debug="unreadable code record") from None
        grant = CODE_GRANT.redeem(form, record, client, app, now)
        for attempt in range(2):
            try:
                return await self.users.issue(app, client, grant, prepared)
            except GuardFailed:
                # The code is spent: decide again here on fresh data rather than take it twice.
                self.registry.forget_application(app.id)
                fresh_app = await self.registry.application(app.id)
                fresh = await self.registry.client(app.id, client.client_id)
                if attempt or fresh_app is None or not fresh_app.active or fresh is None or not fresh.active:
                    raise InvalidGrant("the client or application is no longer active") from None
                app, client = fresh_app, fresh
                CODE_GRANT.check_client(form, client)
                grant = CODE_GRANT.redeem(form, record, client, app, now)
        raise InvalidGrant("the client or application changed; start again")   # not reached

    # refresh_token ----------------------------------------------------------------------------
    async def refresh_grant(self, app: Application, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 6749 §6 with rotation (RFC 9700 §4.14.2)."""
        token = REFRESH_GRANT.check_client(form, client)
        token_hash = self.users.refresh_hash(token)
        record = await self.refresh.find(token_hash)
        now = int(time.time())
        try:
            grant = REFRESH_GRANT.validate(form, record, client, app, now)
        except RefreshTokenReused as reused:
            await self._reused(app, reused.record)
            raise
        try:
            return await self.users.issue(app, client, grant, Prepared.new(), consume=token_hash)
        except TokenSpent:
            again = await self.refresh.find(token_hash)
            if again is not None and again.consumed and not again.revoked:
                await self._reused(app, again)   # two requests raced with the same token: a reuse
            raise InvalidGrant("the refresh token is invalid, expired or revoked", debug="spent meanwhile") from None

    async def _reused(self, app: Application, record: RefreshRecord) -> None:
        log.warning("token.refresh_token_reused", client_id=record.client_id, family_id=record.family_id)
        await self.users.revoke_family(app, record.family_id, reason="reused", reused={
            "grant_id": record.grant_id, "family_id": record.family_id, "token_id": record.token_id,
            "client_id": record.client_id, "subject": record.subject})

    # introspection and revocation -------------------------------------------------------------
    async def _own(self, app: Application, client: Client, token: str) -> RefreshRecord | None:
        record = await self.refresh.find(self.users.refresh_hash(token))
        if record is None or record.application_id != app.id or record.client_id != client.client_id:
            return None   # unknown, another application's, or another client's: not this caller's
        return record

    async def introspect(self, app: Application, client: Client, token: str) -> dict[str, Any] | None:
        """RFC 7662 for a refresh token of the calling client; None when it is not one."""
        record = await self._own(app, client, token)
        if record is None:
            return None
        if record.consumed or record.revoked or record.expires_at <= time.time():
            return {"active": False}
        return {"active": True, "scope": format_scope(record.scopes), "client_id": record.client_id,
                "sub": record.subject, "iss": app.issuer, "exp": record.expires_at, "iat": record.issued_at,
                "token_type": "refresh_token"}

    async def revoke(self, app: Application, client: Client, token: str) -> bool:
        """RFC 7009 §2.1: revoking a refresh token revokes its family and their access tokens."""
        record = await self._own(app, client, token)
        if record is None:
            return False
        await self.users.revoke_family(app, record.family_id, reason="revoked_by_client")
        return True
