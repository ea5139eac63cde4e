"""What a user's grant holds once the user signed in: the input of the code and refresh grants,
and of the ID token. Plain data, shared by :mod:`.authorization_code` and :mod:`.refresh_token`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OFFLINE_ACCESS = "offline_access"
OPENID = "openid"


@dataclass(frozen=True, slots=True)
class SignInFacts:
    """How the user signed in (ADR 0005 §3): repeated in every ID token of the grant."""
    auth_time: int
    amr: tuple[str, ...] = ()
    acr: str | None = None
    sid: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"auth_time": self.auth_time, "amr": list(self.amr), "acr": self.acr, "sid": self.sid}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SignInFacts":
        return cls(int(data["auth_time"]), tuple(data.get("amr") or ()), data.get("acr"), data.get("sid"))


@dataclass(frozen=True, slots=True)
class UserGrant:
    """A token request the code or refresh grant accepted for a user.

    ``scopes`` go into this access token; ``grant_scopes`` are what the user granted, kept by the
    refresh token (a refresh may narrow the access token's scope, never the grant's).
    """
    grant_type: str
    grant_id: str
    client_id: str
    subject: str                         # the user id (sub)
    scopes: tuple[str, ...]
    grant_scopes: tuple[str, ...]
    sign_in: SignInFacts
    nonce: str | None = None             # only from the authorization request (OIDC Core §12.2)
    family_id: str | None = None         # the refresh token family, when the grant has one
    previous_token_id: str | None = None # the refresh token this request rotates

    @property
    def openid(self) -> bool:
        return OPENID in self.scopes


def issues_refresh_token(client_grant_types: tuple[str, ...], grant_scopes: tuple[str, ...]) -> bool:
    """A refresh token is issued when the client may use the refresh_token grant AND the user
    granted ``offline_access`` (OIDC Core §11); otherwise the grant ends with its access token."""
    return "refresh_token" in client_grant_types and OFFLINE_ACCESS in grant_scopes
