"""The two systems Tessera is measured against: the bare ceiling and the peer (oidc-provider).

Each is one process pinned to the server CPUs (the peer keeps its tokens in its own Redis,
pinned there too). ``target(scenario)`` is what wrk should hit for a scenario, or a string
saying why the system has no such row.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shared.embedded import EmbeddedRedis, free_port

from .load import Target, form_post
from .oauth_client import basic_header, client_credentials
from .procs import Server, affinity, pinned, read_pid

PEER_DIR = Path(__file__).parent / "peer"
CLIENT_ID = "bench"
OPAQUE_CLIENT_ID = "bench-opaque"
CC_FORM = "grant_type=client_credentials"


class Ceiling:
    name = "ceiling"
    summary = ("bench/ceiling.py: aiohttp on uvloop, one route; form parsed with request.post(), "
               "Basic credentials checked with hmac.compare_digest against one fixed client, RFC 9068 "
               "claims signed ES256 with cryptography on a key made at start; no storage, no logging")

    def __init__(self, secret: str, cpus: str, log_dir: Path, env: dict[str, str]) -> None:
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = Server("ceiling", pinned(cpus, [sys.executable, "-m", "bench.ceiling", str(self.port),
                                                      CLIENT_ID, secret]),
                             env=env, log_dir=log_dir,
                             ready_url=f"{self.url}/bench/jwks.json",
                             cwd=Path(__file__).parent.parent)
        self.servers = [self.server]

    @property
    def version(self) -> str:
        import aiohttp, cryptography, uvloop  # noqa: E401 - versions only
        return (f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, uvloop {uvloop.__version__}, "
                f"cryptography {cryptography.__version__}")

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def target(self, scenario: str) -> Target | str:
        if scenario == "cc_jwt":
            return form_post(f"{self.url}/bench/token", CLIENT_ID, self.secret, CC_FORM)
        if scenario == "jwks":
            return Target(f"{self.url}/bench/jwks.json")
        return "n/a: the ceiling only signs a JWT and serves its JWKS; it stores nothing"

    def jwks_url(self) -> str:
        return f"{self.url}/bench/jwks.json"

    def processes(self) -> dict[str, tuple[int | None, bool]]:
        """Each process to watch: its pid and whether to count its children too."""
        return {"ceiling": (self.server.pid, False)}


class Peer:
    name = "peer"

    def __init__(self, secret: str, cpus: str, log_dir: Path, env: dict[str, str], root: Path) -> None:
        self.secret = secret
        self.cpus = cpus
        self.log_dir = log_dir
        self.env = {**env, "NODE_ENV": "production"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # its own Redis, durable like Tessera's (append-only file), on the server CPUs too
        self.redis = EmbeddedRedis(root / "peer-redis", persist=True)
        self.server: Server | None = None
        self.introspected: str | None = None

    @property
    def servers(self) -> list[Server]:
        return [self.server] if self.server else []

    @property
    def version(self) -> str:
        packages = json.loads((PEER_DIR / "package-lock.json").read_text())["packages"]
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        return (f"oidc-provider {packages['node_modules/oidc-provider']['version']} and ioredis "
                f"{packages['node_modules/ioredis']['version']} (bench/peer/package-lock.json), Node.js {node}")

    summary = ("bench/peer/peer.mjs: oidc-provider, one Node.js process (NODE_ENV=production), with a "
               "Redis adapter (bench/peer/redis_adapter.mjs, ioredis; its own embedded Redis with appendonly yes, "
               "on the server CPUs) because the default in-memory adapter is an LRU of 1,000 entries that "
               "forgets opaque tokens under load; clients `bench` and `bench-opaque`, client_credentials, client_secret_basic; "
               "features clientCredentials, introspection (any authenticated client), revocation, "
               "resourceIndicators (defaultResource = the one resource server; getResourceServerInfo: "
               "accessTokenFormat 'jwt' with jwt.sign.alg ES256 for `bench`, 'opaque' for `bench-opaque`, "
               "TTL 3600 s); JWKS: one ES256 key generated at start")

    def start(self) -> None:
        with affinity(self.cpus):
            redis_url = self.redis.start()
        self.server = Server("peer", pinned(self.cpus, ["node", "peer.mjs", str(self.port), self.secret, redis_url]),
                             env=self.env, log_dir=self.log_dir, cwd=PEER_DIR,
                             ready_url=f"{self.url}/.well-known/openid-configuration")
        self.server.start()
        opaque = client_credentials(f"{self.url}/token", basic_header(OPAQUE_CLIENT_ID, self.secret))
        self.introspected = opaque["access_token"]

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        self.redis.stop()

    def target(self, scenario: str) -> Target | str:
        token_url = f"{self.url}/token"
        if scenario == "cc_jwt":
            return form_post(token_url, CLIENT_ID, self.secret, CC_FORM)
        if scenario == "cc_opaque":
            return form_post(token_url, OPAQUE_CLIENT_ID, self.secret, CC_FORM)
        if scenario == "introspect":
            return form_post(f"{self.url}/token/introspection", OPAQUE_CLIENT_ID, self.secret,
                             f"token={self.introspected}", "token=<an opaque access token>")
        if scenario == "jwks":
            return Target(f"{self.url}/jwks")
        return "n/a: not configured in the peer yet"

    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def processes(self) -> dict[str, tuple[int | None, bool]]:
        """Each process to watch: its pid and whether to count its children too."""
        return {"peer": (self.server.pid, False), "peer's redis": (read_pid(self.redis.data_dir / "pid"), False)}
