"""The OpenAPI document describes exactly the admin routes authn registers, and parses."""
import re
from pathlib import Path

import yaml
from aiohttp import web

import services.authn
from services.authn import admin

OPENAPI = Path(services.authn.__file__).with_name("openapi.yaml")


def _documented() -> set[tuple[str, str]]:
    pairs, path = set(), None
    for line in OPENAPI.read_text().splitlines():
        if m := re.match(r"^  (/\S+):$", line):
            path = m.group(1)
        elif (m := re.match(r"^    (get|post|put|patch|delete):$", line)) and path:
            pairs.add((m.group(1).upper(), path))
    return pairs


def test_every_admin_route_is_documented_and_every_documented_route_exists():
    app = web.Application()
    admin.add_routes(app, users=None)
    registered = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert _documented() == registered


def test_the_document_is_valid_yaml_of_openapi_3_1():
    document = yaml.safe_load(OPENAPI.read_text())
    assert document["openapi"] == "3.1.0" and "tessera:admin" in document["info"]["description"]
