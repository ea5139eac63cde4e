"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3.1).

Two steps: :func:`extract_credentials` reads what the request presents (header or form) and
:func:`authenticate` checks it against the client the caller loaded for that ``client_id``.
Every authentication failure is the same ``invalid_client`` with the same description; the
reason goes to ``debug`` (logged, never shown). The HMAC of the presented secret is computed
whether or not the client exists, so response time does not tell which client ids exist.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping
from urllib.parse import unquote_plus

from shared.crypto import equal, secret_hash

from ..model import Client
from .errors import InvalidClient, InvalidRequest

BASIC = "client_secret_basic"
POST = "client_secret_post"
NONE = "none"
# what the endpoint must keep in the form for this module to see (params.parse_form)
CLIENT_AUTH_PARAMS = frozenset({"client_id", "client_secret", "client_assertion", "client_assertion_type"})
_NO_HASH = "0" * 64   # compared against when the client is unknown: same work, never equal


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the request presented. ``basic_realm`` is set when the header was used: failures
    must then answer with a ``Basic`` challenge for that realm (RFC 6749 §5.2)."""

    client_id: str
    secret: str | None
    method: str                      # client_secret_basic | client_secret_post | none
    basic_realm: str | None = None

    def __repr__(self) -> str:       # never log the secret
        return f"Credentials(client_id={self.client_id!r}, method={self.method!r})"


def extract_credentials(authorization: str | None, form: Mapping[str, str], *, realm: str) -> Credentials:
    """The credentials of a request; ``realm`` is the issuer, named in a ``Basic`` challenge.

    The client MUST NOT use more than one method (§2.3.1): a secret in both header and form,
    or an assertion alongside either, is ``invalid_request``. A ``client_id`` in the form next
    to the header is tolerated when it names the same client (some libraries send both).
    """
    methods = [name for name, present in (
        ("header", authorization is not None), ("client_secret", "client_secret" in form),
        ("client_assertion", "client_assertion" in form or "client_assertion_type" in form)) if present]
    if len(methods) > 1:
        raise InvalidRequest("use only one client authentication method", debug=f"methods: {methods}")
    if authorization is not None:
        client_id, secret = _basic(authorization, realm)
        if form.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id differs from the one in the Authorization header")
        return Credentials(client_id, secret, BASIC, realm)
    if "client_assertion" in methods:
        raise InvalidClient(debug="client assertions (RFC 7523) are not supported yet")
    client_id = form.get("client_id")
    if client_id is None:
        # "no client authentication included" is invalid_client (§5.2); name the scheme we take
        raise InvalidClient(basic_realm=realm, debug="no client credentials")
    return Credentials(client_id, form.get("client_secret"), POST if "client_secret" in form else NONE)


def _basic(authorization: str, realm: str) -> tuple[str, str]:
    """``client_id`` and secret from ``Basic base64(urlencode(id) ":" urlencode(secret))``."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient(basic_realm=realm, debug=f"unsupported authorization scheme {scheme[:20]!r}")
    token = token.strip()
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
        raw_id, colon, raw_secret = decoded.partition(":")
        client_id = unquote_plus(raw_id, errors="strict")
        secret = unquote_plus(raw_secret, errors="strict")
    except (binascii.Error, ValueError) as exc:   # UnicodeDecodeError is a ValueError
        raise InvalidClient(basic_realm=realm, debug="malformed Basic credentials") from exc
    if not colon or not client_id:
        raise InvalidClient(basic_realm=realm, debug="malformed Basic credentials")
    return client_id, secret


def authenticate(credentials: Credentials, client: Client | None, pepper: bytes, now: datetime) -> Client:
    """The client, if ``credentials`` authenticate it at ``now`` (an aware datetime).

    ``client`` is what the caller loaded for ``credentials.client_id`` (None when unknown).
    """
    presented = secret_hash(pepper, credentials.secret or "")
    if client is None or client.client_id != credentials.client_id:
        equal(presented, _NO_HASH)
        raise _failed(credentials, "unknown client")
    secret_ok = _matches_a_live_hash(presented, client, now)
    if not client.active:
        raise _failed(credentials, "client is disabled")
    if credentials.method != client.token_endpoint_auth_method:
        raise _failed(credentials, f"method {credentials.method} used, "
                                   f"{client.token_endpoint_auth_method} registered")
    if credentials.method != NONE and not secret_ok:
        raise _failed(credentials, "wrong or expired secret")
    return client


def _matches_a_live_hash(presented: str, client: Client, now: datetime) -> bool:
    """Compare against every hash (no early exit); a rotated-out one counts until ``expires_at``."""
    ok = False
    for stored in client.secret_hashes or (None,):
        same = equal(presented, stored.hash if stored else _NO_HASH)
        live = stored is not None and (stored.expires_at is None or now < stored.expires_at)
        ok |= same and live
    return ok


def _failed(credentials: Credentials, reason: str) -> InvalidClient:
    return InvalidClient(basic_realm=credentials.basic_realm,
                         debug=f"client {credentials.client_id!r}: {reason}")
