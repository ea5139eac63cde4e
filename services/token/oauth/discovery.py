"""Authorization server metadata (RFC 8414 §2, OpenID Connect Discovery 1.0 §3), per application.

The document advertises what works, nothing else. The base is what is built today: the
client credentials grant with secret authentication, JWT access tokens, JWKS, introspection
and revocation. Every further feature is a named *capability* that adds its members; later
work enables one by passing its name, never by editing the base::

    metadata(app, endpoints=urls, capabilities={"authorization_code", "pkce", "openid"})

Choices for what is not built yet:

- ``response_types_supported`` is REQUIRED by RFC 8414 and OIDC Discovery, so it is present,
  and empty: no response type works while there is no authorization endpoint.
  ``authorization_endpoint`` is absent (RFC 8414: required only when a grant uses it).
- ``subject_types_supported`` and ``id_token_signing_alg_values_supported`` (REQUIRED by OIDC
  Discovery) appear with the ``openid`` capability only: advertising ID token algorithms while
  no ID token is issued would be untrue. Until then the same RFC 8414 document is served at
  both well-known URLs: OAuth clients (client credentials) can discover the token endpoint
  either way, and no OpenID relying party could complete a flow anyway.
- Members whose *omission* means "supported" are stated explicitly: OIDC Discovery defaults
  ``request_uri_parameter_supported`` to true, so ``openid`` sets it to false until request
  objects are built; ``grant_types_supported`` and the auth-method lists are always explicit.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..model import Application

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
Document = dict[str, Any]


def metadata(application: Application, *, endpoints: Mapping[str, str],
             capabilities: Iterable[str] = ()) -> Document:
    """The metadata document of ``application``.

    ``endpoints`` maps short names (``token``, ``jwks``, ``introspection``, ``revocation``, and
    what capabilities need: ``authorization``, ``userinfo``) to absolute URLs. An unknown
    capability, or one without its prerequisite or endpoint, is a ``ValueError``.
    """
    enabled = set(capabilities)
    unknown = enabled - CAPABILITIES.keys()
    if unknown:
        raise ValueError(f"unknown capabilities: {sorted(unknown)}")
    doc: Document = {
        "issuer": application.issuer,
        "token_endpoint": _endpoint(endpoints, "token"),
        "jwks_uri": _endpoint(endpoints, "jwks"),
        "introspection_endpoint": _endpoint(endpoints, "introspection"),
        "revocation_endpoint": _endpoint(endpoints, "revocation"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": list(SECRET_METHODS),
        "introspection_endpoint_auth_methods_supported": list(SECRET_METHODS),
        "revocation_endpoint_auth_methods_supported": list(SECRET_METHODS),
        "scopes_supported": list(application.scopes),
    }
    for name, (requires, add) in CAPABILITIES.items():   # registry order: deterministic output
        if name in enabled:
            missing = requires - enabled
            if missing:
                raise ValueError(f"capability {name} needs {sorted(missing)}")
            add(doc, application, endpoints)
    return doc


def well_known_urls(issuer: str) -> dict[str, str]:
    """Where the document is published for ``issuer``.

    OIDC Discovery §4 appends ``/.well-known/openid-configuration`` to the issuer; RFC 8414 §3
    inserts ``/.well-known/oauth-authorization-server`` *between* the host and the issuer's path.
    """
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return {
        "openid-configuration": issuer.rstrip("/") + "/.well-known/openid-configuration",
        "oauth-authorization-server": urlunsplit(
            (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", "")),
    }


def _endpoint(endpoints: Mapping[str, str], name: str) -> str:
    try:
        return endpoints[name]
    except KeyError:
        raise ValueError(f"metadata needs the {name} endpoint URL") from None


# ---------------------------------------------------------------- capabilities
# Each adds its members to the document. Keep them in the order they should apply.

def _authorization_code(doc: Document, app: Application, endpoints: Mapping[str, str]) -> None:
    """RFC 6749 §4.1: the authorization endpoint, ``code`` responses in the query."""
    doc["authorization_endpoint"] = _endpoint(endpoints, "authorization")
    doc["grant_types_supported"].append("authorization_code")
    doc["response_types_supported"].append("code")
    doc["response_modes_supported"] = ["query", "fragment", "form_post"]


def _pkce(doc: Document, app: Application, endpoints: Mapping[str, str]) -> None:
    """RFC 7636: S256 only (``plain`` is per application and not advertised)."""
    doc["code_challenge_methods_supported"] = ["S256"]


def _iss_parameter(doc: Document, app: Application, endpoints: Mapping[str, str]) -> None:
    """RFC 9207: ``iss`` in every authorization response."""
    doc["authorization_response_iss_parameter_supported"] = True


def _refresh_token(doc: Document, app: Application, endpoints: Mapping[str, str]) -> None:
    """RFC 6749 §6."""
    doc["grant_types_supported"].append("refresh_token")


def _public_clients(doc: Document, app: Application, endpoints: Mapping[str, str]) -> None:
    """Clients without a secret (``none``) at the token endpoint, and at revocation for their own
    refresh tokens (RFC 7009 §5); never at introspection."""
    doc["token_endpoint_auth_methods_supported"].append("none")
    doc["revocation_endpoint_auth_methods_supported"].append("none")


ID_TOKEN_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid")
# OIDC Core §5.1: what the userinfo service answers for the standard scopes.
USER_CLAIMS = ("name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
               "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at", "email",
               "email_verified", "address", "phone_number", "phone_number_verified")


def _openid(doc: Document, app: Application, endpoints: Mapping[str, str]) -> None:
    """OIDC Discovery §3 members that become true once ID tokens are issued.

    ID tokens are signed RS256 (OIDC requires it; per-client algorithms come with dynamic
    registration), so that is the one algorithm advertised for them. ``sub`` is the user id
    (public subject identifiers). Request objects, ``request_uri`` and the ``claims`` parameter
    are not supported yet, and say so, since OIDC Discovery defaults two of them to true.
    """
    doc["subject_types_supported"] = ["public"]
    doc["id_token_signing_alg_values_supported"] = ["RS256"]
    doc["scopes_supported"] = list(app.scopes)   # what its clients can be given, nothing more
    doc["claims_supported"] = [*ID_TOKEN_CLAIMS, *USER_CLAIMS]
    doc["claim_types_supported"] = ["normal"]
    doc["claims_parameter_supported"] = False
    doc["request_parameter_supported"] = False
    doc["request_uri_parameter_supported"] = False   # the OIDC default is true
    doc["require_request_uri_registration"] = False
    doc["display_values_supported"] = ["page", "popup", "touch", "wap"]


def _userinfo(doc: Document, app: Application, endpoints: Mapping[str, str]) -> None:
    """OIDC Core §5.3."""
    doc["userinfo_endpoint"] = _endpoint(endpoints, "userinfo")


Capability = tuple[frozenset[str], Callable[[Document, Application, Mapping[str, str]], None]]
CAPABILITIES: dict[str, Capability] = {
    "authorization_code": (frozenset(), _authorization_code),
    "pkce": (frozenset({"authorization_code"}), _pkce),
    "iss_parameter": (frozenset({"authorization_code"}), _iss_parameter),
    "refresh_token": (frozenset(), _refresh_token),
    "public_clients": (frozenset({"authorization_code"}), _public_clients),
    "openid": (frozenset({"authorization_code"}), _openid),
    "userinfo": (frozenset({"openid"}), _userinfo),
}
