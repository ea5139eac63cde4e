"""Seeds the demo tenant, application, client and user for ``make run``, and writes ``.tessera/dev.json``.

Idempotent: a second run finds what the first created and keeps its credentials; a secret
that was lost (dev.json deleted) is rotated so the file is complete again.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEMO_TENANT = "demo"
DEMO_APPLICATION = "demo"
DEMO_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEMO_USERNAME = "demo"
USER_WAIT_S = 30.0


class SeedError(Exception):
    pass


def _call(method: str, url: str, *, token: str | None = None, body: Any = None,
          form: dict[str, str] | None = None, basic: tuple[str, str] | None = None) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if basic is not None:
        pair = f"{urllib.parse.quote_plus(basic[0])}:{urllib.parse.quote_plus(basic[1])}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"error": raw.decode(errors="replace")}


def _expect(result: tuple[int, Any], *ok: int) -> Any:
    status, body = result
    if status not in ok:
        raise SeedError(f"unexpected answer {status}: {body}")
    return body


def write_private_json(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def _find_user(public: str, admin: str, username: str) -> str | None:
    after = ""
    while True:
        page = _expect(_call("GET", f"{public}/admin/users?tenant={DEMO_TENANT}&limit=200{after}", token=admin), 200)
        for user in page["items"]:
            if user["username"].lower() == username.lower():
                return user["id"]
        if not page["next"]:
            return None
        after = f"&after={page['next']}"


def _seed_user(public: str, admin: str, known_password: str | None) -> str:
    """The demo user of the demo tenant (authn, through the gateway); returns its password.

    authn learns the tenant from the token service's events, so a fresh tenant may take a moment
    to be known there (404): retried. An existing user keeps its password when dev.json has it;
    otherwise a new one is set.
    """
    password = known_password or secrets.token_urlsafe(12)
    deadline = time.monotonic() + USER_WAIT_S
    while True:
        status, body = _call("POST", f"{public}/admin/users", token=admin, body={
            "tenant_id": DEMO_TENANT, "username": DEMO_USERNAME, "password": password, "name": "Demo User",
            "email": "demo@example.com", "email_verified": True})
        if status == 201:
            return password
        if status == 409:
            break
        if status != 404 or time.monotonic() > deadline:
            raise SeedError(f"creating the demo user: unexpected answer {status}: {body}")
        time.sleep(0.2)
    if known_password:
        return known_password
    user_id = _find_user(public, admin, DEMO_USERNAME)
    if user_id is None:
        raise SeedError("the demo user exists but cannot be found")
    _expect(_call("POST", f"{public}/admin/users/{user_id}/password", token=admin, body={"password": password}), 204)
    return password


def seed(env: dict[str, str], state: Path) -> dict[str, Any]:
    token_url, public = env["TESSERA_TOKEN_SERVICE_URL"], env["TESSERA_PUBLIC_URL"]
    path = state / "dev.json"
    dev = json.loads(path.read_text()) if path.exists() else {}
    admin = None
    if dev.get("admin_client_id"):
        status, body = _call("POST", f"{token_url}/system/token", basic=(dev["admin_client_id"], dev["admin_client_secret"]),
                             form={"grant_type": "client_credentials", "scope": "tessera:admin"})
        admin = body["access_token"] if status == 200 else None
    if admin is None:
        creds = _expect(_call("POST", f"{token_url}/internal/bootstrap", token=env["TESSERA_INTERNAL_TOKEN"],
                              body={"new_client": True}), 200, 201)
        dev["admin_client_id"], dev["admin_client_secret"] = creds["client_id"], creds["client_secret"]
        admin = _expect(_call("POST", f"{token_url}/system/token", basic=(creds["client_id"], creds["client_secret"]),
                              form={"grant_type": "client_credentials", "scope": "tessera:admin"}), 200)["access_token"]

    status, _ = _call("GET", f"{token_url}/admin/tenants/{DEMO_TENANT}", token=admin)
    if status == 404:
        _expect(_call("POST", f"{token_url}/admin/tenants", token=admin,
                      body={"id": DEMO_TENANT, "name": "Demo"}), 201)
    status, app = _call("GET", f"{token_url}/admin/applications/{DEMO_APPLICATION}", token=admin)
    if status == 404:
        created = _expect(_call("POST", f"{token_url}/admin/tenants/{DEMO_TENANT}/applications", token=admin, body={
            "id": DEMO_APPLICATION, "name": "Demo application", "scopes": ["read", "write"],
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
            "redirect_uris": [DEMO_REDIRECT_URI]}), 201)
        app, dev["client_secret"] = created, created["default_client"]["client_secret"]
    elif not dev.get("client_secret"):
        rotated = _expect(_call("POST", f"{token_url}/admin/applications/{DEMO_APPLICATION}/clients/"
                                f"{DEMO_APPLICATION}/rotate-secret", token=admin, body={"grace_seconds": 0}), 200)
        dev["client_secret"] = rotated["client_secret"]
    dev.update({
        "issuer": app.get("issuer", f"{public}/{DEMO_APPLICATION}"),
        "client_id": DEMO_APPLICATION,
        "redirect_uri": DEMO_REDIRECT_URI,
        "username": DEMO_USERNAME,
        "password": _seed_user(public, admin, dev.get("password")),
    })
    ordered = {k: dev.get(k) for k in ("issuer", "client_id", "client_secret", "redirect_uri", "username",
                                       "password", "admin_client_id", "admin_client_secret")}
    write_private_json(path, ordered)
    return ordered
