"""Which service answers which public path.

Every application is an issuer at ``{public_url}/{app}``; its endpoints are served by different
services. The dev gateway (``tessera run``) and the Kubernetes ingress route by this table.
Rules are tried in order; the first regular expression that matches the path wins.
"""
from __future__ import annotations

import re

# Service-to-service paths are never public: the gateway and the ingress answer 404.
PRIVATE = re.compile(r"^/internal(/|$)")

ROUTES: list[tuple[str, str]] = [
    (r"^/admin/users(/|$)", "authn"),
    (r"^/admin/keys(/|$)", "keys"),
    (r"^/admin/", "token"),
    (r"^/[^/]+/jwks\.json$", "keys"),
    (r"^/[^/]+/userinfo$", "userinfo"),
    (r"^/[^/]+/(login|logout|consent|mfa|password|signin|authn)(/|$)", "authn"),
    (r"^/[^/]+/api/authn(/|$)", "authn"),
    (r"^/", "token"),
]
_COMPILED = [(re.compile(pattern), service) for pattern, service in ROUTES]


def service_for(path: str) -> str:
    for pattern, service in _COMPILED:
        if pattern.search(path):
            return service
    return "token"
