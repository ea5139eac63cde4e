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

from . import users
from .codeflow import Flow
from .load import Target, form_post
from .oauth_client import basic_header, client_credentials
from .procs import Server, affinity, pinned, read_pid
from .signin import Client

PEER_DIR = Path(__file__).parent / "peer"
CLIENT_ID = "bench"
OPAQUE_CLIENT_ID = "bench-opaque"
CC_FORM = "grant_type=client_credentials"
CODE_FLOW = ("code", "refresh", "userinfo", "login")
REDIRECT_URI = "https://client.example/callback"     # the same on both sides (never fetched)
USERS = 1_000                                         # users of the main rows, on both sides


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
        if scenario in CODE_FLOW:
            return ("n/a: the ceiling is defined for a form parse and an ES256 signature only; the code flow "
                    "(users, passwords, sessions, codes, refresh tokens, userinfo) has no bare equivalent")
        return "n/a: the ceiling only signs a JWT and serves its JWKS; it stores nothing"

    def jwks_url(self) -> str:
        return f"{self.url}/bench/jwks.json"

    def processes(self) -> dict[str, tuple[int | None, bool]]:
        """Each process to watch: its pid and whether to count its children too."""
        return {"ceiling": (self.server.pid, False)}


class Peer:
    name = "peer"

    def __init__(self, secret: str, cpus: str, log_dir: Path, env: dict[str, str], root: Path,
                 load_cpus: str = "1", threads: int = 1) -> None:
        self.secret = secret
        self.cpus = cpus
        self.root = root
        self.load_cpus = load_cpus
        self.threads = threads
        self.flows: dict[str, Flow] = {}
        self.users_loaded: tuple[int, float] | None = None
        self.log_dir = log_dir
        self.env = {**env, "NODE_ENV": "production"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # its own Redis, durable like Tessera's (append-only file), on the server CPUs too
        self.redis = EmbeddedRedis(root / "peer-redis", persist=True)
        self.server: Server | None = None
        self.redis_url: str | None = None
        self.introspected: str | None = None

    @property
    def servers(self) -> list[Server]:
        return [self.server] if self.server else []

    @property
    def version(self) -> str:
        packages = json.loads((PEER_DIR / "package-lock.json").read_text())["packages"]
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        return (f"oidc-provider {packages['node_modules/oidc-provider']['version']}, ioredis "
                f"{packages['node_modules/ioredis']['version']} and argon2 {packages['node_modules/argon2']['version']} "
                f"(bench/peer/package-lock.json), Node.js {node}")

    @property
    def summary(self) -> str:
        loaded = (f"; {self.users_loaded[0]:,} users written to its Redis in {self.users_loaded[1]:.1f} s"
                  if self.users_loaded else "")
        return self.SUMMARY + loaded

    SUMMARY = ("bench/peer/peer.mjs: oidc-provider, one Node.js process (NODE_ENV=production), with a "
               "Redis adapter (bench/peer/redis_adapter.mjs, ioredis; its own embedded Redis with appendonly yes "
               "and Redis's default appendfsync everysec — what it stores reaches the disk within a second, not "
               "before the answer leaves, where Tessera's grant events are a Postgres commit with fsync before the "
               "answer — on the server CPUs) because the default in-memory adapter is an LRU of 1,000 entries that "
               "forgets opaque tokens under load; clients `bench` and `bench-opaque`, client_credentials, client_secret_basic; "
               "features clientCredentials, introspection (any authenticated client), revocation, "
               "resourceIndicators (defaultResource = the one resource server; getResourceServerInfo: "
               "accessTokenFormat 'jwt' with jwt.sign.alg ES256 for `bench` and `bench-code`, 'opaque' for "
               "`bench-opaque`, TTL 3600 s); JWKS: one ES256 key (access tokens) and one RSA 2048 key (ID tokens, "
               "RS256) generated at start. Code flow: clients `bench-code` (JWT ES256 access tokens for the resource, "
               "as Tessera's `bench-code`) and `bench-code-opaque` (no resource: oidc-provider's userinfo access "
               "tokens, always opaque — its userinfo endpoint takes no other kind), both client_secret_basic, "
               "authorization_code + refresh_token, redirect URI " + REDIRECT_URI + ", PKCE S256 sent; "
               "rotateRefreshToken: true; ttl AuthorizationCode 60 s (as Tessera), AccessToken/IdToken 3600 s; "
               "scopes openid profile email offline_access; findAccount and the password check read the peer's "
               "Redis (users loaded in bulk by bench/users.py: `user:login:{username}` {sub, argon2id hash}, "
               "`user:account:{sub}` claims JSON); passwords verified with npm argon2 (libargon2, argon2id "
               "m=19456 KiB, t=2, p=1, the same PHC hash as Tessera's users). Sign-in: oidc-provider's interactions "
               "(its own example's shape): GET /interaction/:uid answers a login form (hidden csrf, an HMAC of the "
               "interaction id), POST /interaction/:uid/login checks the password and finishes the interaction "
               "with the login and the consent together (a Grant of every requested scope: what "
               "`skip_consent: true` does on Tessera, so neither side shows a consent page); the authorization "
               "requests carry prompt=consent because oidc-provider drops offline_access without it "
               "(OIDC Core §11), and an interaction that needs only that consent (a browser already signed in) "
               "is granted at once, the same way")

    def start(self) -> None:
        with affinity(self.cpus):
            redis_url = self.redis_url = self.redis.start()
        self.server = Server("peer", pinned(self.cpus, ["node", "peer.mjs", str(self.port), self.secret, redis_url]),
                             env=self.env, log_dir=self.log_dir, cwd=PEER_DIR,
                             ready_url=f"{self.url}/.well-known/openid-configuration")
        self.server.start()
        opaque = client_credentials(f"{self.url}/token", basic_header(OPAQUE_CLIENT_ID, self.secret))
        self.introspected = opaque["access_token"]
        seconds = users.load_peer(redis_url, 0, USERS, users.password_hash())
        self.users_loaded = (USERS, seconds)
        for client_id in ("bench-code", "bench-code-opaque"):
            client = Client(f"{self.url}/auth", f"{self.url}/token", client_id,
                            basic_header(client_id, self.secret), REDIRECT_URI, extra=(("prompt", "consent"),))
            self.flows[client_id] = Flow(client, f"{self.url}/me", f"{self.url}/jwks", self.root / "peer-flow",
                                         self.load_cpus, self.threads, range(USERS))

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
        if scenario == "userinfo":
            return self.flows["bench-code-opaque"].target(scenario)
        if scenario in CODE_FLOW:
            return self.flows["bench-code"].target(scenario)
        return "n/a: not configured in the peer"

    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def processes(self) -> dict[str, tuple[int | None, bool]]:
        """Each process to watch: its pid and whether to count its children too."""
        return {"peer": (self.server.pid, False), "peer's redis": (read_pid(self.redis.data_dir / "pid"), False)}
