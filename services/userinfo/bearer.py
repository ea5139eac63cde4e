"""Where a userinfo request carries its access token (RFC 6750 §2). Plain data, no aiohttp.

- ``Authorization: Bearer <token>`` (§2.1), any method;
- the ``access_token`` member of an ``application/x-www-form-urlencoded`` POST body (§2.2);
- never the query string (§2.3): a URI ends up in access logs and browser history, so a
  request that puts ``access_token`` there is refused (``invalid_request``) rather than
  silently taken.

More than one method (or the header or member twice) is ``invalid_request`` (§3.1). No
credentials at all, or another authentication scheme than Bearer, is a 401 without an error
code (§3.1).
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence
from urllib.parse import parse_qsl

from .errors import BearerError, invalid_request, no_token

FORM = "application/x-www-form-urlencoded"
MAX_TOKEN_LENGTH = 4096
# §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def token_from_header(values: Sequence[str]) -> str | None:
    """The token of the ``Authorization`` header(s); None when there is no Bearer credential."""
    if not values:
        return None
    if len(values) > 1:
        raise invalid_request("The request has more than one Authorization header.")
    scheme, _, credentials = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return None                 # another scheme: as if no credentials (§3.1)
    return _checked(credentials.strip())


def token_from_form(pairs: Iterable[tuple[str, str]]) -> str | None:
    found = [value for name, value in pairs if name == "access_token"]
    if not found:
        return None
    if len(found) > 1:
        raise invalid_request("The access_token parameter is repeated.")
    return _checked(found[0])


def decode_form(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                         max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("The request body is not a valid form.") from None


def extract(*, method: str, authorization: Sequence[str], query_names: Iterable[str],
            content_type: str, body: bytes | None) -> str:
    """The one access token of a request, or :class:`BearerError`.

    ``body`` is read by the caller only for a form POST (None otherwise).
    """
    if "access_token" in query_names:
        raise invalid_request("An access token in the URI query is not accepted; "
                              "send it in the Authorization header.")
    from_header = token_from_header(authorization)
    from_form = None
    if method == "POST" and content_type == FORM and body:
        from_form = token_from_form(decode_form(body))
    if from_header is not None and from_form is not None:
        raise invalid_request("The request uses more than one method to send an access token.")
    token = from_header if from_header is not None else from_form
    if token is None:
        raise no_token()
    return token


def _checked(token: str) -> str:
    if not token:
        raise invalid_request("The access token is empty.")
    if len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(token):
        raise invalid_request("The access token is malformed.")
    return token


__all__ = ["BearerError", "FORM", "extract"]
