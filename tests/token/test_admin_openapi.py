"""The OpenAPI document describes exactly the admin routes the service registers."""
import re
from pathlib import Path

from aiohttp import web

import services.token
from services.token import admin

OPENAPI = Path(services.token.__file__).with_name("openapi.yaml")


def _documented() -> set[tuple[str, str]]:
    """(METHOD, path) pairs of the document (its path keys sit at two spaces, methods at four)."""
    pairs, path = set(), None
    for line in OPENAPI.read_text().splitlines():
        if m := re.match(r"^  (/\S+):$", line):
            path = m.group(1)
        elif (m := re.match(r"^    (get|post|put|patch|delete):$", line)) and path:
            pairs.add((m.group(1).upper(), path))
    return pairs


def _registered() -> set[tuple[str, str]]:
    app = web.Application()
    admin.add_routes(app, registry=None)
    return {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}


def test_every_admin_route_is_documented_and_every_documented_route_exists():
    assert _documented() == _registered()


def test_the_document_is_openapi_3_1_with_the_admin_bearer_scheme():
    text = OPENAPI.read_text()
    assert text.startswith("openapi: 3.1.0\n")
    assert "scheme: bearer" in text and "tessera:admin" in text
