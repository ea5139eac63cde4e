"""The authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).

Two steps around the atomic take of the code (done by the caller):

- :meth:`AuthorizationCodeGrant.check_client` before: a client that may not use this grant, or
  a request without a code, must not burn someone's code.
- :meth:`AuthorizationCodeGrant.redeem` after, on the :class:`CodeRecord` taken (or None). Any
  mismatch is ``invalid_grant``; the code is gone either way (it is single use, RFC 6749 §4.1.2).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Mapping

from ..model import Application, Client
from .client_auth import CLIENT_AUTH_PARAMS
from .errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from .pkce import check_verifier
from .scopes import allowed_scopes
from .user_grant import SignInFacts, UserGrant

MAX_CODE_TTL = 60          # RFC 9700 §4.2.1 / STANDARDS.md: codes live at most a minute


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """What a code is bound to, stored under the code's HMAC (never the code itself)."""
    grant_id: str
    tenant_id: str
    application_id: str
    issuer: str
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    scopes: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    subject: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str | None
    sid: str | None
    issued_at: int
    expires_at: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["scopes"], data["amr"] = list(self.scopes), list(self.amr)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CodeRecord":
        return cls(**{**data, "scopes": tuple(data["scopes"]), "amr": tuple(data["amr"])})


def code_ttl(application: Application) -> int:
    return min(application.settings.code_ttl, MAX_CODE_TTL)


class AuthorizationCodeGrant:
    GRANT_TYPE: ClassVar[str] = "authorization_code"
    PARAMETERS: ClassVar[frozenset[str]] = frozenset(
        {"grant_type", "code", "redirect_uri", "code_verifier"}) | CLIENT_AUTH_PARAMS

    def check_client(self, form: Mapping[str, str], client: Client) -> str:
        """The code to take, once the client is known to be allowed this grant."""
        if self.GRANT_TYPE not in client.grant_types:
            raise UnauthorizedClient("the client may not use the authorization code grant")
        code = form.get("code")
        if code is None:
            raise InvalidRequest("code is required")
        return code

    def redeem(self, form: Mapping[str, str], record: CodeRecord | None, client: Client,
               application: Application, now: int) -> UserGrant:
        """The grant the code stands for, if this client may redeem it with this request."""
        if record is None:
            raise InvalidGrant("the code is invalid, expired or already used")
        if record.application_id != application.id or record.issuer != application.issuer:
            raise InvalidGrant("the code was not issued here", debug="code of another application")
        if record.client_id != client.client_id:
            raise InvalidGrant("the code was issued to another client")
        if record.expires_at <= now:
            raise InvalidGrant("the code has expired")
        sent = form.get("redirect_uri")
        if record.redirect_uri_sent and sent is None:
            raise InvalidGrant("redirect_uri is required: the authorization request had one")
        if sent is not None and sent != record.redirect_uri:
            raise InvalidGrant("redirect_uri differs from the authorization request's")
        check_verifier(form.get("code_verifier"), record.code_challenge)
        # A scope the client lost since the sign-in is not granted.
        allowed = set(allowed_scopes(client, application))
        scopes = tuple(s for s in record.scopes if s in allowed)
        return UserGrant(
            grant_type=self.GRANT_TYPE, grant_id=record.grant_id, client_id=client.client_id,
            subject=record.subject, scopes=scopes, grant_scopes=scopes,
            sign_in=SignInFacts(record.auth_time, record.amr, record.acr, record.sid), nonce=record.nonce)
