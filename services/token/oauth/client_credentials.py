"""The client credentials grant (RFC 6749 §4.4): a confidential client asks for a token for itself.

The endpoint authenticates the client first (:mod:`.client_auth`), then calls
:meth:`ClientCredentialsGrant.validate` with the parsed form. No refresh token is issued
(§4.4.3 says one SHOULD NOT be).
"""
from __future__ import annotations

from typing import ClassVar, Mapping

from ..model import Application, Client
from .client_auth import BASIC, CLIENT_AUTH_PARAMS, POST
from .decision import GrantDecision
from .errors import InvalidScope, ServerError, UnauthorizedClient, UnsupportedGrantType
from .scopes import grant_scopes, parse_scope

__all__ = ["ClientCredentialsGrant", "GrantDecision", "USER_SCOPES"]

# OpenID Connect scopes ask for a user's identity or offline access; a client acting for itself
# has neither, so they are never granted here (and not part of the default).
USER_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})


class ClientCredentialsGrant:
    """``grant_type=client_credentials`` with an optional ``scope``."""

    GRANT_TYPE: ClassVar[str] = "client_credentials"
    PARAMETERS: ClassVar[frozenset[str]] = frozenset({"grant_type", "scope"}) | CLIENT_AUTH_PARAMS
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]] = (BASIC, POST)

    def validate(self, form: Mapping[str, str], client: Client, application: Application) -> GrantDecision:
        """The decision for an authenticated ``client`` of ``application``, or an OAuth error."""
        if form.get("grant_type") != self.GRANT_TYPE:
            raise UnsupportedGrantType(debug=f"routed {form.get('grant_type')!r} to client_credentials")
        if client.application_id != application.id:
            raise ServerError(debug="client loaded for another application")
        if not application.active:
            raise UnauthorizedClient("the application is disabled")
        if not client.active:   # authenticate() refuses it first; this guards a stale cache
            raise UnauthorizedClient("the client is disabled")
        if client.token_endpoint_auth_method not in self.TOKEN_ENDPOINT_AUTH_METHODS:   # §4.4
            raise UnauthorizedClient("only confidential clients may use client_credentials")
        if self.GRANT_TYPE not in client.grant_types:
            raise UnauthorizedClient("the client may not use client_credentials")
        requested = parse_scope(form.get("scope"))
        if requested is not None and USER_SCOPES.intersection(requested):
            raise InvalidScope("user scopes (" + " ".join(sorted(USER_SCOPES.intersection(requested)))
                               + ") need a user and cannot be granted to a client acting for itself")
        scopes = grant_scopes(requested, client, application)
        if requested is None:
            scopes = tuple(s for s in scopes if s not in USER_SCOPES)
        return GrantDecision(
            grant_type=self.GRANT_TYPE,
            client_id=client.client_id,
            subject=client.client_id,
            scopes=scopes,
            audience=(application.issuer,),
            lifetime=application.settings.access_token_ttl,
        )
