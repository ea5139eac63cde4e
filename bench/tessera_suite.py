"""Tessera as benchmarked: the real services on real, durable Postgres, Redis and NATS.

Everything is pinned to the server CPUs: the embedded servers (started while this process is
pinned, so they and every Postgres backend inherit it) and each service (``taskset``). The
services are started as ``tests/support/suite.py`` does, without the gateway: the benchmark
hits the token service (and the keys service for JWKS) directly. Postgres runs with fsync and
synchronous commit on, Redis with its append-only file: the fast test mode is off.
"""
from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
from importlib.metadata import version as package_version
from pathlib import Path

import asyncpg

from shared.embedded import EmbeddedServers, free_port

from . import users
from .codeflow import Flow
from .load import Target, form_post
from .oauth_client import client_credentials
from .procs import Server, affinity, pinned, read_pid
from .provision import CODE_APPLICATION, BenchClient, import_users, provision, provision_code_flow
from .quiesce import sql
from .signin import Client

CODE_FLOW = ("code", "refresh", "userinfo", "login")
REDIRECT_URI = "https://client.example/callback"     # the same as the peer's (never fetched)
USERS = 1_000                                         # users of the main rows, on both sides

SERVICES = ("keys", "token", "authn", "userinfo")
ROOT = Path(__file__).resolve().parent.parent
CC_FORM = "grant_type=client_credentials"
INFRA = ("postgres", "redis", "nats")   # the embedded servers, by their folder under data/


class TesseraSuite:
    name = "tessera"
    @property
    def summary(self) -> str:
        loaded = (f"; {self.users_loaded[0]:,} users imported in {self.users_loaded[1]:.1f} s"
                  if self.users_loaded else "")
        return ("the services keys, token, authn and userinfo (`python -m services.NAME`, "
                "TESSERA_LOG_LEVEL=warning), no gateway: wrk hits the token service, the keys service "
                "for JWKS and the userinfo service for userinfo, and the sign-in driver sends each URL under the "
                "public URL to the service that shared/routing.py names for its path (what the gateway does); "
                "embedded Postgres (fsync and synchronous_commit on), Redis (appendonly yes) and "
                "NATS JetStream, all on the server CPUs; tenant `bench`, applications `bench` "
                "(access_token_format jwt, ES256) and `bench-opaque` (opaque), each with its default client "
                "(client_secret_basic, client_credentials), made through the admin API. Code flow: application "
                f"`{CODE_APPLICATION}` (JWT ES256 access tokens, ID tokens RS256, the default) with two clients "
                "made through `POST /admin/applications/bench-code/clients`: access_token_format jwt (the code, "
                "refresh and sign-in rows) and opaque (the userinfo row, as the peer's), both client_secret_basic, "
                f"authorization_code + refresh_token, redirect URI {REDIRECT_URI}, scopes openid profile email "
                "offline_access, skip_consent true; PKCE S256 sent; users `user0000000`… of tenant `bench` "
                "imported through authn's `POST /admin/users/import` (1,000 a call, 4 in flight) with one "
                "precomputed argon2id hash (m=19456 KiB, t=2, p=1) as `password_hash`" + loaded)

    def __init__(self, root: Path, cpus: str, log_dir: Path, load_cpus: str = "1", threads: int = 1) -> None:
        self.root = root
        self.cpus = cpus
        self.log_dir = log_dir
        self.load_cpus = load_cpus
        self.threads = threads
        self.flows: dict[str, Flow] = {}
        self.code_flow_error: str | None = None
        self.users_loaded: tuple[int, float] | None = None
        self.password_hash: str | None = None
        self.tokens_base = None          # bench/scaling.TokensBase, measured before the main rows
        self.embedded: EmbeddedServers | None = None
        self.services: dict[str, Server] = {}
        self.clients: dict[str, BenchClient] = {}
        self.admin: BenchClient | None = None
        self.introspected: str | None = None
        self.second_token: Server | None = None   # the scaling row's second token process
        self.second_token_url: str | None = None

    @property
    def servers(self) -> list[Server]:
        return [*self.services.values(), *([self.second_token] if self.second_token else [])]

    @property
    def version(self) -> str:
        return f"tessera {package_version('tessera')} ({git_revision()}), Python {sys.version.split()[0]}"

    def start(self) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        self.embedded = EmbeddedServers(self.root / "data", clean, fast=False, persist=True)
        with affinity(self.cpus):
            urls = self.embedded.start()
        ports = {name: free_port() for name in SERVICES}
        env = {
            **clean, **urls,
            "TESSERA_SECRET_PEPPER": base64.b64encode(secrets.token_bytes(32)).decode(),
            "TESSERA_KEY_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "TESSERA_INTERNAL_TOKEN": secrets.token_urlsafe(32),
            "TESSERA_LOG_LEVEL": "warning",
            "TESSERA_LOG_FORMAT": "json",
            "TESSERA_PUBLIC_URL": f"http://127.0.0.1:{ports['token']}",
            "TESSERA_TOKEN_SERVICE_URL": f"http://127.0.0.1:{ports['token']}",
            "TESSERA_KEYS_SERVICE_URL": f"http://127.0.0.1:{ports['keys']}",
        }
        for name in SERVICES:
            url = f"http://127.0.0.1:{ports[name]}"
            server = Server(name, pinned(self.cpus, [sys.executable, "-m", f"services.{name}"]),
                            env={**env, "TESSERA_PORT": str(ports[name])}, log_dir=self.log_dir,
                            ready_url=f"{url}/readyz")
            self.services[name] = server   # before start: stop() must find it even if it fails
            server.start()
        self.database_url = urls["TESSERA_DATABASE_URL"]
        self.token_url = env["TESSERA_TOKEN_SERVICE_URL"]
        self.keys_url = env["TESSERA_KEYS_SERVICE_URL"]
        self.clients, self.admin = provision(self.token_url, env["TESSERA_INTERNAL_TOKEN"])
        opaque = self.clients["bench-opaque"]
        self.introspected = client_credentials(f"{self.token_url}/{opaque.application}/token",
                                               opaque.basic)["access_token"]
        self.authn_url = f"http://127.0.0.1:{ports['authn']}"
        self.userinfo_url = f"http://127.0.0.1:{ports['userinfo']}"
        self.public_url = env["TESSERA_PUBLIC_URL"]
        self.internal_token = env["TESSERA_INTERNAL_TOKEN"]
        try:
            self.start_code_flow()
        except Exception as exc:  # noqa: BLE001 - the other rows are still measured; the cell says why
            self.code_flow_error = f"{type(exc).__name__}: {str(exc)[:300]}"

    def start_code_flow(self) -> None:
        """The code-flow application and clients, the main rows' users, and one Flow per client."""
        assert self.admin is not None
        made = provision_code_flow(self.token_url, self.admin, REDIRECT_URI)
        self.password_hash = users.password_hash()
        self.users_loaded = import_users(self.authn_url, self.token_url, self.admin, 0, USERS, self.password_hash)
        gateway = (("public", self.public_url), ("token", self.token_url), ("authn", self.authn_url),
                   ("userinfo", self.userinfo_url), ("keys", self.keys_url))
        issuer = f"{self.public_url}/{CODE_APPLICATION}"
        for kind, bench_client in made.items():
            client = Client(f"{issuer}/authorize", f"{self.token_url}/{CODE_APPLICATION}/token", bench_client.client_id,
                            bench_client.basic, REDIRECT_URI, gateway=gateway)
            self.flows[kind] = Flow(client, f"{self.userinfo_url}/{CODE_APPLICATION}/userinfo",
                                    f"{self.keys_url}/{CODE_APPLICATION}/jwks.json", self.root / f"tessera-flow-{kind}",
                                    self.load_cpus, self.threads, range(USERS))

    def start_second_token(self) -> str:
        """A second token-service process: the first one's environment (same database, Redis,
        NATS, secrets, public URL), another port, pinned to the same server CPUs. Its URL."""
        first = self.services["token"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = Server("token-2", pinned(self.cpus, [sys.executable, "-m", "services.token"]),
                        env={**first.env, "TESSERA_PORT": str(port)}, log_dir=self.log_dir,
                        ready_url=f"{url}/readyz")
        self.second_token = server   # before start: stop() must find it even if it fails
        server.start()
        self.second_token_url = url
        return url

    def stop_second_token(self) -> None:
        if self.second_token is not None:
            self.second_token.stop()

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        if self.embedded is not None:
            self.embedded.stop()

    def target(self, scenario: str) -> Target | str:
        jwt, opaque = self.clients["bench"], self.clients["bench-opaque"]
        if scenario == "cc_jwt":
            return form_post(f"{self.token_url}/bench/token", jwt.client_id, jwt.client_secret, CC_FORM)
        if scenario == "cc_opaque":
            return form_post(f"{self.token_url}/bench-opaque/token", opaque.client_id, opaque.client_secret,
                             CC_FORM)
        if scenario == "introspect":
            return form_post(f"{self.token_url}/bench-opaque/introspect", opaque.client_id,
                             opaque.client_secret, f"token={self.introspected}", "token=<an opaque access token>")
        if scenario == "jwks":
            return Target(f"{self.keys_url}/bench/jwks.json")
        if scenario in CODE_FLOW:
            if self.code_flow_error or not self.flows:
                return f"not built yet: the code flow could not be set up ({self.code_flow_error})"
            return self.flows["opaque" if scenario == "userinfo" else "jwt"].target(scenario)
        return "not built yet"

    def jwks_url(self) -> str:
        return f"{self.keys_url}/bench/jwks.json"

    def outbox_backlog(self) -> dict[str, int]:
        """Events each service has stored but not yet published to NATS (its outbox rows)."""
        async def count() -> dict[str, int]:
            conn = await asyncpg.connect(self.database_url, timeout=5)
            try:
                schemas = [r[0] for r in await conn.fetch(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' ORDER BY 1")]
                return {schema: await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox') for schema in schemas}
            finally:
                await conn.close()
        return asyncio.run(count())

    def checkpoint_buffers(self) -> int | None:
        """Buffers Postgres's checkpointer has written since it started (PostgreSQL 16's
        ``pg_stat_bgwriter.buffers_checkpoint``); None if it cannot be read."""
        try:
            return asyncio.run(sql(self.database_url, "SELECT buffers_checkpoint FROM pg_stat_bgwriter"))[0][0]
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
            return None

    def dead(self) -> list[str]:
        return [name for name, server in self.services.items() if not server.alive()]

    def processes(self) -> dict[str, tuple[int | None, bool]]:
        """Each process to watch: its pid and whether to count its children too (the
        embedded servers: Postgres has a backend per connection)."""
        out: dict[str, tuple[int | None, bool]] = {
            f"{name} service": (server.pid, False) for name, server in self.services.items()}
        if self.second_token is not None and self.second_token.alive():
            out["second token service"] = (self.second_token.pid, False)
        for label in INFRA:
            out[label] = (read_pid(self.root / "data" / label / "pid"), True)
        return out


def git_revision() -> str:
    """The commit of the work tree measured, and whether it had uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git work tree"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")
