"""The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636, RFC 9700).

Two phases, because where an error goes depends on what is trusted:

1. :func:`trusted_target` finds the client and its redirect URI. Until both are known good,
   every error is an :class:`ErrorPage` (never a redirect: RFC 6749 §4.1.2.1, an open redirector
   otherwise).
2. :func:`validate` checks the rest. Its errors are :class:`~.errors.OAuthError` s that go back
   to the client's redirect URI with ``state`` and ``iss`` (RFC 9207).

The result, :func:`pending_request`, is the JSON authn reads (ADR 0005 §2, exactly).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import Application, Client
from .errors import (InvalidRequest, InvalidScope, RequestNotSupported, RequestUriNotSupported,
                     UnauthorizedClient, UnsupportedResponseType)
from .pkce import check_challenge
from .scopes import allowed_scopes, parse_scope

RESPONSE_TYPE = "code"
RESPONSE_MODES = ("query", "fragment", "form_post")
PROMPTS = ("none", "login", "consent", "select_account")
DISPLAYS = ("page", "popup", "touch", "wap")
REQUEST_TTL = 600                # seconds a pending request lives (ADR 0005)
MAX_VALUE = 2048                 # no parameter value longer than this is kept
GRANT_TYPE = "authorization_code"
# Parameters this endpoint reads; anything else is ignored (RFC 6749 §3.1).
KNOWN = frozenset({
    "client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", "ui_locales",
    "acr_values", "id_token_hint", "claims_locales", "display", "request", "request_uri", "claims",
})
_MAX_AGE = re.compile(r"^[0-9]{1,9}$")


class ErrorPage(Exception):
    """An error shown to the user agent, never sent to a redirect URI."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status = status


@dataclass(frozen=True, slots=True)
class Target:
    """Where the authorization response goes, once the redirect URI is trusted."""
    redirect_uri: str
    redirect_uri_sent: bool       # RFC 6749 §4.1.3: then the token request must repeat it
    response_mode: str
    state: str | None


@dataclass(frozen=True, slots=True)
class Params:
    """The request's known parameters: single values by name, and the names sent twice."""
    values: Mapping[str, str]
    duplicated: frozenset[str]

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def read_params(pairs: Iterable[tuple[str, str]]) -> Params:
    """Known parameters (an empty value counts as omitted); repeated ones are noted, not chosen."""
    pairs = [(k, v) for k, v in pairs if k in KNOWN]
    counts = Counter(k for k, _ in pairs)
    duplicated = frozenset(k for k, n in counts.items() if n > 1)
    values = {k: v for k, v in pairs if k not in duplicated and v != ""}
    return Params(values, duplicated)


def trusted_target(params: Params, client: Client | None, application: Application) -> Target:
    """The client's redirect URI for this request, or :class:`ErrorPage`."""
    if "client_id" in params.duplicated or params.get("client_id") is None:
        raise ErrorPage("The request has no valid client_id.")
    if client is None or not client.active or client.application_id != application.id:
        raise ErrorPage("Unknown or disabled client.")
    if "redirect_uri" in params.duplicated:
        raise ErrorPage("redirect_uri is given more than once.")
    sent = params.get("redirect_uri")
    if sent is None:
        if len(client.redirect_uris) != 1:
            raise ErrorPage("redirect_uri is required: the client has registered more than one.")
        redirect_uri = client.redirect_uris[0]
    elif sent in client.redirect_uris:          # exact string comparison (RFC 9700 §4.1.3)
        redirect_uri = sent
    else:
        raise ErrorPage("redirect_uri is not registered for this client.")
    mode = params.get("response_mode")
    state = None if "state" in params.duplicated else params.get("state")
    return Target(redirect_uri, sent is not None, mode if mode in RESPONSE_MODES else "query", state)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated request: what the code will be bound to, and what authn needs to know."""
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    response_mode: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: tuple[str, ...]
    max_age: int | None
    login_hint: str | None
    ui_locales: str | None
    acr_values: str | None


def validate(params: Params, target: Target, client: Client, application: Application) -> AuthorizationRequest:
    """Every check after the redirect URI is trusted; each failure is an OAuth error."""
    if params.duplicated:
        raise InvalidRequest("parameter given more than once: " + " ".join(sorted(params.duplicated)))
    too_long = sorted(name for name, value in params.values.items() if len(value) > MAX_VALUE)
    if too_long:
        raise InvalidRequest(f"parameter too long: {' '.join(too_long)}")
    if params.get("request") is not None:
        raise RequestNotSupported("request objects are not supported")
    if params.get("request_uri") is not None:
        raise RequestUriNotSupported("request_uri is not supported")
    _check_response_type(params.get("response_type"))
    mode = params.get("response_mode")
    if mode is not None and mode not in RESPONSE_MODES:
        raise InvalidRequest("response_mode must be one of " + ", ".join(RESPONSE_MODES))
    if GRANT_TYPE not in client.grant_types:
        raise UnauthorizedClient("the client may not use the authorization code grant")
    scopes = _scopes(params.get("scope"), client, application)
    challenge, method = check_challenge(params.get("code_challenge"), params.get("code_challenge_method"),
                                        required=not client.confidential)
    display = params.get("display")
    if display is not None and display not in DISPLAYS:
        raise InvalidRequest("display must be one of " + ", ".join(DISPLAYS))
    return AuthorizationRequest(
        client_id=client.client_id, redirect_uri=target.redirect_uri, redirect_uri_sent=target.redirect_uri_sent,
        response_mode=target.response_mode, scopes=scopes, state=target.state, nonce=params.get("nonce"),
        code_challenge=challenge, code_challenge_method=method, prompt=_prompt(params.get("prompt")),
        max_age=_max_age(params.get("max_age")), login_hint=params.get("login_hint"),
        ui_locales=params.get("ui_locales"), acr_values=params.get("acr_values"))


def _check_response_type(value: str | None) -> None:
    if value is None:
        raise InvalidRequest("response_type is required")
    if value != RESPONSE_TYPE:
        raise UnsupportedResponseType("only response_type=code is supported")


def _scopes(value: str | None, client: Client, application: Application) -> tuple[str, ...]:
    """The requested scopes, all of which the client may have. A scope is required here: a user
    grants what the client names, never a default set (RFC 6749 §3.3 lets the server fail)."""
    requested = parse_scope(value)
    if requested is None:
        raise InvalidScope("scope is required")
    allowed = set(allowed_scopes(client, application))
    refused = [s for s in requested if s not in allowed]
    if refused:
        raise InvalidScope("scope not allowed for this client: " + " ".join(refused))
    return requested


def _prompt(value: str | None) -> tuple[str, ...]:
    """OIDC Core §3.1.2.1: space-delimited; ``none`` stands alone."""
    if value is None:
        return ()
    prompts = tuple(dict.fromkeys(p for p in value.split(" ") if p))
    unknown = [p for p in prompts if p not in PROMPTS]
    if unknown:
        raise InvalidRequest("prompt must be made of " + ", ".join(PROMPTS))
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequest("prompt=none cannot be combined with another value")
    return prompts


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not _MAX_AGE.match(value):
        raise InvalidRequest("max_age must be a non-negative integer (seconds)")
    return int(value)


def pending_request(request: AuthorizationRequest, *, request_id: str, application: Application,
                    client: Client, now: int) -> dict[str, Any]:
    """The pending request as ADR 0005 §2 fixes it (written by token, read by authn)."""
    return {
        "id": request_id, "tenant_id": application.tenant_id, "application_id": application.id,
        "application_name": application.name, "issuer": application.issuer,
        "client_id": client.client_id, "client_name": client.name, "skip_consent": client.skip_consent,
        "redirect_uri": request.redirect_uri, "response_mode": request.response_mode,
        "scopes": list(request.scopes), "state": request.state, "nonce": request.nonce,
        "code_challenge": request.code_challenge, "code_challenge_method": request.code_challenge_method,
        "prompt": list(request.prompt), "max_age": request.max_age, "login_hint": request.login_hint,
        "ui_locales": request.ui_locales, "acr_values": request.acr_values,
        "created_at": now, "expires_at": now + REQUEST_TTL,
    }
