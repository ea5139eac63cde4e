"""The refresh token grant (RFC 6749 §6, RFC 9700 §4.14, OIDC Core §12).

Refresh tokens rotate: each use consumes the token and issues a new one of the same family. A
consumed token presented again is a reuse (:class:`RefreshTokenReused`): the caller revokes the
whole family and its access tokens. The scope may be narrowed for the new access token, never
widened beyond what the user granted; the new refresh token keeps the grant's scope.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

from ..model import Application, Client
from .client_auth import CLIENT_AUTH_PARAMS
from .errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient
from .scopes import allowed_scopes, parse_scope
from .user_grant import SignInFacts, UserGrant


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """A stored refresh token (by hash), as the grant sees it."""
    token_id: str
    family_id: str
    grant_id: str
    application_id: str
    client_id: str
    subject: str
    scopes: tuple[str, ...]
    sign_in: SignInFacts
    issued_at: int
    expires_at: int
    consumed: bool
    revoked: bool


class RefreshTokenReused(InvalidGrant):
    """A consumed refresh token came back: its family must be revoked (RFC 9700 §4.14.2)."""

    def __init__(self, record: RefreshRecord) -> None:
        super().__init__("the refresh token is invalid, expired or revoked", debug="refresh token reused")
        self.record = record


class RefreshTokenGrant:
    GRANT_TYPE: ClassVar[str] = "refresh_token"
    PARAMETERS: ClassVar[frozenset[str]] = frozenset({"grant_type", "refresh_token", "scope"}) | CLIENT_AUTH_PARAMS

    def check_client(self, form: Mapping[str, str], client: Client) -> str:
        if self.GRANT_TYPE not in client.grant_types:
            raise UnauthorizedClient("the client may not use the refresh_token grant")
        token = form.get("refresh_token")
        if token is None:
            raise InvalidRequest("refresh_token is required")
        parse_scope(form.get("scope"))   # malformed scope: invalid_scope before any look-up
        return token

    def validate(self, form: Mapping[str, str], record: RefreshRecord | None, client: Client,
                 application: Application, now: int) -> UserGrant:
        """The grant to continue, or ``invalid_grant`` / ``invalid_scope``.

        Every reason a token is unusable gets the same description (the debug part says which).
        """
        if record is None or record.application_id != application.id:
            raise _unusable("unknown refresh token")
        if record.client_id != client.client_id:
            raise _unusable("refresh token of another client")
        if record.revoked:
            raise _unusable("revoked refresh token")
        if record.consumed:
            raise RefreshTokenReused(record)
        if record.expires_at <= now:
            raise _unusable("expired refresh token")
        requested = parse_scope(form.get("scope"))
        if requested is not None:
            wider = [s for s in requested if s not in record.scopes]
            if wider:
                raise InvalidScope("scope exceeds what was granted: " + " ".join(wider))
        allowed = set(allowed_scopes(client, application))
        grant_scopes = tuple(s for s in record.scopes if s in allowed)
        scopes = tuple(s for s in (requested or record.scopes) if s in allowed)
        return UserGrant(
            grant_type=self.GRANT_TYPE, grant_id=record.grant_id, client_id=client.client_id,
            subject=record.subject, scopes=scopes, grant_scopes=grant_scopes, sign_in=record.sign_in,
            nonce=None, family_id=record.family_id, previous_token_id=record.token_id)


def _unusable(reason: str) -> InvalidGrant:
    return InvalidGrant("the refresh token is invalid, expired or revoked", debug=reason)
