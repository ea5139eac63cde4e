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
