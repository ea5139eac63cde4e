"""Before measuring: one request to each target, to show that the three do the same work.

A token endpoint must answer 200 with RFC 6749 JSON; a JWT access token must be ES256 with
``typ: at+jwt`` and verify against the system's own JWKS. What was seen goes in the report.
"""
from __future__ import annotations

import json
import urllib.parse

from jwcrypto import jwk, jws

from .load import Target
from .oauth_client import call


class CheckFailed(RuntimeError):
    pass


def _form(target: Target) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(target.form))


def check(scenario: str, target: Target, jwks_url: str) -> str:
    """One request like the load's; a one-line description of the answer, or CheckFailed."""
    if target.checker is not None:
        return target.checker()
    headers = {"Authorization": target.authorization} if target.authorization else {}
    if target.method == "POST":
        status, body = call("POST", target.url, headers=headers, form=_form(target))
    else:
        status, body = call("GET", target.url)
    if status != 200:
        raise CheckFailed(f"HTTP {status} {json.dumps(body)[:300]}")
    if scenario == "jwks":
        kinds = [f"{k.get('kty')}/{k.get('alg') or k.get('crv')}" for k in body.get("keys", [])]
        return f"{len(kinds)} key(s): {', '.join(kinds)}"
    if scenario == "introspect":
        if body.get("active") is not True:
            raise CheckFailed(f"token not active: {json.dumps(body)[:300]}")
        return f"active, members: {', '.join(sorted(body))}"
    token = body.get("access_token")
    if not isinstance(token, str) or body.get("token_type", "").lower() != "bearer":
        raise CheckFailed(f"not a token response: {json.dumps(body)[:300]}")
    members = ", ".join(sorted(body))
    if scenario == "cc_opaque":
        if token.count(".") == 2:
            raise CheckFailed("expected an opaque token, got a JWT")
        return f"opaque token of {len(token)} chars; response members: {members}"
    return f"{_verify_jwt(token, jwks_url)}; response members: {members}"


def check_token_response(body: dict, jwks_url: str, *, refresh: bool, id_token: bool) -> str:
    """A code-flow token response: the access token (a JWT verified as at+jwt ES256, or opaque),
    the ID token verified as RS256 with the issuer's JWKS, and a refresh token when wanted."""
    token = body.get("access_token")
    if not isinstance(token, str) or body.get("token_type", "").lower() != "bearer":
        raise CheckFailed(f"not a token response: {json.dumps(body)[:300]}")
    if refresh and not body.get("refresh_token"):
        raise CheckFailed(f"no refresh token: members {', '.join(sorted(body))}")
    access = _verify_jwt(token, jwks_url) if token.count(".") == 2 else f"opaque access token of {len(token)} chars"
    idt = ""
    if id_token:
        if not body.get("id_token"):
            raise CheckFailed(f"no ID token: members {', '.join(sorted(body))}")
        idt = "; ID token " + _verify_jwt(body["id_token"], jwks_url, alg="RS256", typ=None)
    return f"{access}{idt}; response members: {', '.join(sorted(body))}"


def _verify_jwt(token: str, jwks_url: str, *, alg: str = "ES256", typ: str | None = "at+jwt") -> str:
    status, keys = call("GET", jwks_url)
    if status != 200:
        raise CheckFailed(f"JWKS {jwks_url}: HTTP {status}")
    signed = jws.JWS()
    try:
        signed.deserialize(token)
        header = signed.jose_header
        signed.verify(jwk.JWKSet.from_json(json.dumps(keys)), alg=alg)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is the finding
        raise CheckFailed(f"JWT does not verify as {alg} with {jwks_url}: {exc}") from None
    if typ and header.get("typ", "").lower() != typ:
        raise CheckFailed(f"JWT typ is {header.get('typ')!r}, not {typ}")
    claims = json.loads(signed.payload)
    scope = f" (scope “{claims['scope']}”)" if "scope" in claims else ""
    return (f"JWT {header['alg']}{' typ ' + header['typ'] if header.get('typ') else ''}, {len(token)} chars, "
            "verified with its JWKS; "
            f"claims: {', '.join(claims)}{scope}")
