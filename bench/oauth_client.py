"""The few HTTP calls the runner makes itself (provisioning, checks): stdlib only."""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request


def basic_header(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode both parts, then Basic."""
    raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def call(method: str, url: str, *, headers: dict[str, str] | None = None, json_body: dict | None = None,
         form: dict[str, str] | None = None) -> tuple[int, dict]:
    """One HTTP request; the status and the JSON body (``{}`` when empty)."""
    headers = dict(headers or {})
    data = None
    if json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, (json.loads(raw) if raw.strip() else {})
    except ValueError:
        return status, {"raw": raw[:500].decode(errors="replace")}


class UnexpectedResponse(RuntimeError):
    """A call answered another status than the one the runner needs."""


def expect(status: int, body: dict, wanted: int, what: str) -> dict:
    if status != wanted:
        raise UnexpectedResponse(f"{what}: HTTP {status} {json.dumps(body)[:500]}")
    return body


def client_credentials(token_url: str, basic: str, scope: str | None = None) -> dict:
    """A client-credentials grant (client_secret_basic); the token response."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    status, body = call("POST", token_url, headers={"Authorization": basic}, form=form)
    return expect(status, body, 200, f"client credentials at {token_url}")
