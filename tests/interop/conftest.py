"""Interop with real relying-party libraries (Authlib, openid-client) against the running suite.

``suite``, ``admin`` and ``make_app`` come from the root ``tests/conftest.py`` (one suite per session).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.fixtures import Admin, App
from tests.support.tools import missing, require_tool

HERE = Path(__file__).parent


async def post_client(admin: Admin, app: App, **extra) -> tuple[str, str]:
    """(client_id, client_secret) of a new client of ``app`` registered for client_secret_post."""
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients", json={
        "name": "post", "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"], "scopes": ["read", "write"], **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()["client_id"], resp.json()["client_secret"]


async def get_json(url: str) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.get(url)
    assert resp.status_code == 200, f"GET {url}: {resp.status_code} {resp.text}"
    return resp.json()


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with tests/interop's npm packages installed (`make test` runs npm ci)."""
    path = require_tool("node", "install Node.js 20+ with npm (openid-client 6 needs Node.js 20; "
                                "Debian 12's own nodejs is 18), then `npm ci --prefix tests/interop`")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        missing(f"node {version} is too old: openid-client 6 needs Node.js 20 or newer")
    if not (HERE / "node_modules" / "openid-client" / "package.json").exists():
        missing("tests/interop/node_modules is missing: run `make node-deps` (npm ci --prefix tests/interop)")
    return path
