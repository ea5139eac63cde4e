"""authn's answer to a pending request (ADR 0005 §3), checked before a code is issued."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .errors import AUTHORIZATION_RESULT_ERRORS, OAuthError, ServerError


@dataclass(frozen=True, slots=True)
class SignIn:
    """Who signed in, how, and what they granted."""
    user_id: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str | None
    sid: str | None
    granted_scopes: tuple[str, ...]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def read_result(result: Any, requested_scopes: tuple[str, ...]) -> SignIn:
    """The sign-in, or the OAuth error to send to the client.

    Granted scopes are kept only if they were requested (authn can narrow, never widen). A
    result this function cannot read is a ``server_error``: the redirect URI is trusted, so the
    client learns that the sign-in failed rather than the user seeing a dead end.
    """
    if not isinstance(result, Mapping):
        raise ServerError("the sign-in result could not be read")
    if "error" in result:
        cls = AUTHORIZATION_RESULT_ERRORS.get(result.get("error"))
        if cls is None:
            raise ServerError("the sign-in ended with an unknown error")
        description = result.get("error_description")
        return_error: OAuthError = cls(description if isinstance(description, str) else "")
        raise return_error
    user_id, auth_time = result.get("user_id"), result.get("auth_time")
    amr, acr, sid = result.get("amr", []), result.get("acr"), result.get("sid")
    granted = result.get("granted_scopes")
    if not (isinstance(user_id, str) and user_id and isinstance(auth_time, int) and not isinstance(auth_time, bool)
            and _strings(amr) and (acr is None or isinstance(acr, str)) and (sid is None or isinstance(sid, str))
            and _strings(granted)):
        raise ServerError("the sign-in result is malformed")
    wanted = set(granted)
    return SignIn(user_id=user_id, auth_time=auth_time, amr=tuple(amr), acr=acr, sid=sid,
                  granted_scopes=tuple(s for s in requested_scopes if s in wanted))
