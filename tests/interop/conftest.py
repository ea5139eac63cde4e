"""Interop with certified relying-party libraries (Authlib, openid-client) against the running suite.

``suite``, ``admin`` and ``make_app`` come from the root ``tests/conftest.py`` (one suite per session).
"""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.fixtures import Admin, App
from tests.support.tools import require_tool

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
    path = require_tool("node", "install Node.js 20+ and npm, then `npm ci --prefix tests/interop`")
    if not (HERE / "node_modules" / "openid-client" / "package.json").exists():
        reason = "tests/interop/node_modules is missing: run `make node-deps` (npm ci --prefix tests/interop)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
