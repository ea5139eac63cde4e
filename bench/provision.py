"""Tessera's benchmark data, made through its own API on the token service.

Bootstrap (``POST /internal/bootstrap`` with the internal token) gives an admin client; its
client-credentials token (scope ``tessera:admin``) creates tenant ``bench`` and applications
``bench`` (JWT access tokens, ES256) and ``bench-opaque`` (opaque access tokens). Each
application's default client (``client_id`` = the application id, client_secret_basic,
client_credentials) is the benchmark's client; its secret is answered once, at creation.
The admin client is kept too: the scaling rows (bench/scaling.py) create many more.
"""
from __future__ import annotations

from dataclasses import dataclass

from .oauth_client import basic_header, call, client_credentials, expect

TENANT = "bench"
APPLICATIONS = {"bench": "jwt", "bench-opaque": "opaque"}


@dataclass(frozen=True)
class BenchClient:
    application: str
    client_id: str
    client_secret: str

    @property
    def basic(self) -> str:
        return basic_header(self.client_id, self.client_secret)


def admin_bearer(token_service: str, admin: BenchClient) -> dict[str, str]:
    """The Authorization header of an admin API call: a fresh token of the admin client."""
    grant = client_credentials(f"{token_service}/system/token", admin.basic, "tessera:admin")
    return {"Authorization": f"Bearer {grant['access_token']}"}


def provision(token_service: str, internal_token: str) -> tuple[dict[str, BenchClient], BenchClient]:
    """Create the benchmark's tenant, applications and clients; their clients by application,
    and the admin client (application ``system``)."""
    status, admin = call("POST", f"{token_service}/internal/bootstrap",
                         headers={"Authorization": f"Bearer {internal_token}"})
    expect(status, admin, 201, "bootstrap")
    admin_client = BenchClient("system", admin["client_id"], admin["client_secret"])
    bearer = admin_bearer(token_service, admin_client)
    status, body = call("POST", f"{token_service}/admin/tenants", headers=bearer,
                        json_body={"id": TENANT, "name": "Benchmark"})
    expect(status, body, 201, "create tenant")
    clients: dict[str, BenchClient] = {}
    for application, token_format in APPLICATIONS.items():
        status, body = call("POST", f"{token_service}/admin/tenants/{TENANT}/applications", headers=bearer,
                            json_body={"id": application, "name": f"Benchmark ({token_format})",
                                       "settings": {"access_token_format": token_format,
                                                    "access_token_alg": "ES256"}})
        default = expect(status, body, 201, f"create application {application}")["default_client"]
        clients[application] = BenchClient(application, default["client_id"], default["client_secret"])
    return clients, admin_client


# The code flow --------------------------------------------------------------------------------------
CODE_APPLICATION = "bench-code"
OIDC_SCOPES = ["openid", "profile", "email", "offline_access"]


def provision_code_flow(token_service: str, admin: BenchClient, redirect_uri: str) -> dict[str, BenchClient]:
    """Application ``bench-code`` (JWT ES256 access tokens, like ``bench``) and two clients of it
    for the code flow: ``jwt`` (its access tokens JWT ES256) and ``opaque`` (opaque access tokens,
    the userinfo row's: the peer's userinfo takes only opaque ones). Both confidential
    (client_secret_basic), authorization_code + refresh_token, the one redirect URI, scopes
    openid profile email offline_access, ``skip_consent: true`` (no consent page, as the peer)."""
    bearer = admin_bearer(token_service, admin)
    status, body = call("POST", f"{token_service}/admin/tenants/{TENANT}/applications", headers=bearer,
                        json_body={"id": CODE_APPLICATION, "name": "Benchmark (code flow)",
                                   "settings": {"access_token_format": "jwt", "access_token_alg": "ES256"}})
    expect(status, body, 201, f"create application {CODE_APPLICATION}")
    clients = {}
    for kind in ("jwt", "opaque"):
        status, body = call("POST", f"{token_service}/admin/applications/{CODE_APPLICATION}/clients", headers=bearer,
                            json_body={"name": f"bench code flow ({kind})", "redirect_uris": [redirect_uri],
                                       "token_endpoint_auth_method": "client_secret_basic",
                                       "grant_types": ["authorization_code", "refresh_token"],
                                       "scopes": OIDC_SCOPES, "access_token_format": kind, "skip_consent": True})
        created = expect(status, body, 201, f"create the {kind} code-flow client")
        clients[kind] = BenchClient(CODE_APPLICATION, created["client_id"], created["client_secret"])
    return clients


def import_users(authn: str, token_service: str, admin: BenchClient, start: int, stop: int, hashed: str,
                 in_flight: int = 4, progress=None) -> tuple[int, float]:
    """Users ``start`` … ``stop - 1`` (bench/users.py) into tenant ``bench`` through authn's
    ``POST /admin/users/import``, 1,000 a call with the precomputed ``password_hash``,
    ``in_flight`` calls at once. How many were imported and the seconds it took."""
    import asyncio
    import time

    import aiohttp

    from . import users

    async def run() -> int:
        bearer = admin_bearer(token_service, admin)
        done = 0
        batches = iter(range(start, stop, users.BATCH))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
            async def worker() -> None:
                nonlocal done, bearer
                for first in batches:
                    body = {"tenant_id": TENANT, "users": [
                        {"username": users.username(i), "password_hash": hashed, **users.claims(i)}
                        for i in range(first, min(stop, first + users.BATCH))]}
                    for attempt in range(30):
                        async with http.post(f"{authn}/admin/users/import", json=body, headers=bearer) as resp:
                            answer = await resp.json(content_type=None)
                            if resp.status == 401 and attempt < 29:
                                bearer = admin_bearer(token_service, admin)
                                continue
                            if resp.status == 404 and attempt < 29:    # tenant.created not at authn yet
                                await asyncio.sleep(0.2)
                                continue
                            expect(resp.status, answer, 201, f"import users {first}…")
                            break
                    done += answer["imported"]
                    if progress:
                        progress(done)
            await asyncio.gather(*(worker() for _ in range(in_flight)))
        return done
    started = time.monotonic()
    count = asyncio.run(run())
    return count, time.monotonic() - started
