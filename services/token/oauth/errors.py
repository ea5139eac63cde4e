"""OAuth 2.0 error responses: one class per registered error code.

An error carries what the client sees (``error``, ``error_description``, ``error_uri``, the HTTP
status and headers) and a ``debug`` string for the log only, never shown (fosite's shape).
``error_description`` may hold only %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2): anything else
is dropped, so a description built from request data can never break the JSON or a header.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar, Mapping

_FORBIDDEN_IN_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URI_CHARS = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def sanitise_description(text: str) -> str:
    """``text`` without the characters RFC 6749 §5.2 forbids in ``error_description``."""
    return _FORBIDDEN_IN_DESCRIPTION.sub("", text)


def challenge(scheme: str, realm: str, **params: str | None) -> str:
    """A ``WWW-Authenticate`` value: ``Scheme realm="...", name="value", ...`` (RFC 9110 §11.6.1)."""
    pairs = [("realm", realm), *((k, v) for k, v in params.items() if v)]
    return scheme + " " + ", ".join(f'{k}="{_quoted(v)}"' for k, v in pairs)


def _quoted(value: str) -> str:
    value = _CONTROL.sub("", value)
    return value.replace("\\", "\\\\").replace('"', '\\"')


class OAuthError(Exception):
    """Base: an unexpected failure is ``server_error`` (500)."""

    error: ClassVar[str] = "server_error"
    status: ClassVar[int] = 500

    def __init__(self, description: str = "", *, uri: str | None = None,
                 headers: Mapping[str, str] | None = None, debug: str | None = None) -> None:
        if uri is not None and not _URI_CHARS.match(uri):
            raise ValueError("error_uri has characters RFC 6749 §5.2 forbids")
        self.description = sanitise_description(description)
        self.uri = uri
        self.headers: dict[str, str] = dict(headers or {})
        self.debug = debug
        super().__init__(f"{self.error}: {self.description}" if self.description else self.error)

    def to_body(self) -> dict[str, str]:
        """The JSON error object (RFC 6749 §5.2); empty members are left out."""
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        if self.uri:
            body["error_uri"] = self.uri
        return body


class InvalidRequest(OAuthError):
    error, status = "invalid_request", 400


class InvalidClient(OAuthError):
    """Client authentication failed (401).

    RFC 6749 §5.2: when the client tried the ``Authorization`` header the 401 MUST carry a
    challenge for the scheme it used; pass ``basic_realm`` (the issuer) then. A client that
    authenticated in the form body gets a 401 without a challenge: the RFC makes the challenge
    optional there, and a Basic challenge would invite a scheme the client did not choose.
    """

    error, status = "invalid_client", 401

    def __init__(self, description: str = "client authentication failed", *,
                 basic_realm: str | None = None, **kwargs: Any) -> None:
        super().__init__(description, **kwargs)
        if basic_realm is not None:
            self.headers["WWW-Authenticate"] = challenge("Basic", basic_realm, error=self.error)


class InvalidGrant(OAuthError):
    error, status = "invalid_grant", 400


class UnauthorizedClient(OAuthError):
    error, status = "unauthorized_client", 400


class UnsupportedGrantType(OAuthError):
    error, status = "unsupported_grant_type", 400


class InvalidScope(OAuthError):
    error, status = "invalid_scope", 400


class _BearerError(OAuthError):
    """RFC 6750 §3: with ``realm`` given, the error is repeated in a ``Bearer`` challenge."""

    def __init__(self, description: str = "", *, realm: str | None = None,
                 scope: str | None = None, **kwargs: Any) -> None:
        super().__init__(description, **kwargs)
        if realm is not None:
            self.headers["WWW-Authenticate"] = challenge(
                "Bearer", realm, error=self.error, error_description=self.description, scope=scope)


class InvalidToken(_BearerError):
    error, status = "invalid_token", 401


class InsufficientScope(_BearerError):
    error, status = "insufficient_scope", 403


class ServerError(OAuthError):
    error, status = "server_error", 500


class TemporarilyUnavailable(OAuthError):
    error, status = "temporarily_unavailable", 503

    def __init__(self, description: str = "", *, retry_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(description, **kwargs)
        if retry_after is not None:
            self.headers["Retry-After"] = str(retry_after)


class AccessDenied(OAuthError):
    error, status = "access_denied", 403


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1: the server cannot revoke tokens of the hinted type."""

    error, status = "unsupported_token_type", 400


# Authorization endpoint errors (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6): they travel to the
# client's redirect URI, so their HTTP status is never sent; it stays 400 for completeness.
class UnsupportedResponseType(OAuthError):
    error, status = "unsupported_response_type", 400


class LoginRequired(OAuthError):
    error, status = "login_required", 400


class ConsentRequired(OAuthError):
    error, status = "consent_required", 400


class InteractionRequired(OAuthError):
    error, status = "interaction_required", 400


class AccountSelectionRequired(OAuthError):
    error, status = "account_selection_required", 400


class RequestNotSupported(OAuthError):
    error, status = "request_not_supported", 400


class RequestUriNotSupported(OAuthError):
    error, status = "request_uri_not_supported", 400


# What authn may answer instead of a sign-in (ADR 0005 §3), by error code.
AUTHORIZATION_RESULT_ERRORS: dict[str, type[OAuthError]] = {
    cls.error: cls for cls in (LoginRequired, ConsentRequired, InteractionRequired, AccessDenied,
                               AccountSelectionRequired)
}
