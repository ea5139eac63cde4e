"""``tessera run``: the whole suite on one machine.

Starts real embedded Postgres, Redis and NATS for every ``TESSERA_*_URL`` not given (state
under ``.tessera/``), generates and keeps the suite's secrets in ``.tessera/secrets.json``,
starts every service and the dev gateway, waits until each is ready, prints where each
listens, and on Ctrl-C or SIGTERM stops all of it in order. A second run keeps the data.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from shared.config import DEFAULT_PORTS, SERVICES
from shared.embedded import EmbeddedServers, free_port

STATE_DIR = Path(".tessera")
GATEWAY_PORT = 8080


def load_or_create_secrets(state: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The suite's own secrets: kept in ``secrets.json`` (mode 0600) unless given in env."""
    path = state / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    generated = {
        "TESSERA_SECRET_PEPPER": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        "TESSERA_KEY_ENCRYPTION_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        "TESSERA_INTERNAL_TOKEN": lambda: secrets.token_urlsafe(32),
    }
    changed = False
    for name, make in generated.items():
        if name not in stored:
            stored[name] = make()
            changed = True
    if changed:
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
    return {k: env.get(k) or v for k, v in stored.items()}


def _port(preferred: int) -> int:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def wait_ready(url: str, timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class Suite:
    """The processes of one ``tessera run``."""

    def __init__(self, state: Path = STATE_DIR, env: Mapping[str, str] | None = None) -> None:
        self.state = state.resolve()
        self.env = dict(os.environ if env is None else env)
        self.servers = EmbeddedServers(self.state, self.env)
        self.procs: dict[str, subprocess.Popen] = {}
        self.urls: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        self.state.mkdir(parents=True, exist_ok=True)
        gateway_port = self._gateway_port()
        env = {**self.env, **load_or_create_secrets(self.state, self.env), **self.servers.start()}
        if not env.get("TESSERA_PUBLIC_URL"):
            env["TESSERA_PUBLIC_URL"] = f"http://127.0.0.1:{gateway_port}"
        ports = {name: _port(DEFAULT_PORTS[name]) for name in SERVICES}
        env["TESSERA_TOKEN_SERVICE_URL"] = f"http://127.0.0.1:{ports['token']}"
        env["TESSERA_KEYS_SERVICE_URL"] = f"http://127.0.0.1:{ports['keys']}"
        self.env = env
        logs = self.state / "logs"
        logs.mkdir(exist_ok=True)
        # The token service first: it owns the issuers the others serve.
        for name in ("token", "keys", "authn", "userinfo", "audit"):
            self._spawn(name, [sys.executable, "-m", f"services.{name}"],
                        {**env, "TESSERA_PORT": str(ports[name])}, logs)
            self.urls[name] = f"http://127.0.0.1:{ports[name]}"
        upstreams = json.dumps(self.urls)
        self._spawn("gateway", [sys.executable, "-m", "tessera", "gateway", "--port", str(gateway_port),
                                "--upstreams", upstreams], env, logs)
        self.urls["gateway"] = f"http://127.0.0.1:{gateway_port}"
        for name, url in self.urls.items():
            proc = self.procs[name]
            path = "/healthz" if name == "gateway" else "/readyz"
            if not wait_ready(url + path, 60, lambda p=proc: p.poll() is None):
                raise RuntimeError(f"{name} did not become ready; see {logs / (name + '.log')}")
        return env

    def _gateway_port(self) -> int:
        """The gateway's port: given, or the one the demo's issuer was made with, or 8080.

        Issuers are fixed when an application is created, so a second run must come back on the
        same public URL: a busy port is an error, not a reason to pick another one.
        """
        if self.env.get("TESSERA_GATEWAY_PORT"):
            return int(self.env["TESSERA_GATEWAY_PORT"])
        port = GATEWAY_PORT
        dev = self.state / "dev.json"
        if dev.exists():
            port = urlsplit(json.loads(dev.read_text()).get("issuer") or "").port or GATEWAY_PORT
        if _port(port) != port:
            raise RuntimeError(f"port {port} is in use; stop what uses it or set TESSERA_GATEWAY_PORT "
                               f"(and TESSERA_PUBLIC_URL) to run the gateway elsewhere")
        return port

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        log = open(logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        self.servers.stop()


def run() -> int:
    """Start the suite, seed the demo, and block until Ctrl-C or SIGTERM."""
    from .seed import SeedError, seed
    suite = Suite()
    stopping = False

    def on_signal(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        env = suite.start()
        print("Tessera is running:")
        print(f"  public URL  {env['TESSERA_PUBLIC_URL']}  (gateway)")
        for name in ("token", "keys", "authn", "userinfo", "audit"):
            print(f"  {name:<10}  {suite.urls[name]}")
        print(f"  postgres    {env['TESSERA_DATABASE_URL']}")
        print(f"  redis       {env['TESSERA_REDIS_URL']}")
        print(f"  nats        {env['TESSERA_NATS_URL']}")
        print(f"  logs        {suite.state / 'logs'}")
        try:
            dev = seed(env, suite.state)
        except (SeedError, OSError) as exc:
            print(f"tessera: seeding the demo failed: {exc}", file=sys.stderr)
            return 1
        print("Demo (also in .tessera/dev.json):")
        print(f"  issuer         {dev['issuer']}")
        print(f"  client_id      {dev['client_id']}")
        print(f"  client_secret  {dev['client_secret']}")
        print(f"  redirect_uri   {dev['redirect_uri']}")
        print(f"  user           {dev['username']} / {dev['password']}  (sign in at the login page)")
        print(f"  admin client   {dev['admin_client_id']}  (secret in .tessera/dev.json)")
        print(f"  try: curl -u demo:{dev['client_secret']} -d grant_type=client_credentials {dev['issuer']}/token")
        print("Press Ctrl-C to stop.", flush=True)
        while not stopping:
            dead = [n for n, p in suite.procs.items() if p.poll() is not None]
            if dead:
                print(f"tessera: {', '.join(dead)} exited; stopping (see {suite.state / 'logs'})", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"tessera: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Stopping…", flush=True)
        suite.stop()
