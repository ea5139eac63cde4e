"""The running suite for end-to-end tests: real service processes behind the dev gateway."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared.embedded import free_port

from .processes import ServiceProcess


@dataclass
class RunningSuite:
    public_url: str
    env: dict[str, str]
    log_dir: Path
    token: ServiceProcess
    token2: ServiceProcess
    keys: ServiceProcess
    gateway: subprocess.Popen
    others: list[ServiceProcess] = field(default_factory=list)

    def issuer(self, application: str) -> str:
        return f"{self.public_url}/{application}"

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> None:
        self.gateway.terminate()
        self.gateway.wait(10)
        for proc in [self.token, self.token2, self.keys, *self.others]:
            proc.stop()


def start_suite(service_env: dict[str, str], log_dir: Path) -> RunningSuite:
    gateway_port = free_port()
    public_url = f"http://127.0.0.1:{gateway_port}"
    keys = ServiceProcess("keys", {}, log_dir)
    # The refresh-token sweep runs every second here (tests/token/test_refresh_sweep.py watches it).
    env = {**service_env, "TESSERA_PUBLIC_URL": public_url, "TESSERA_KEYS_SERVICE_URL": keys.url,
           "TESSERA_REFRESH_TOKEN_SWEEP_INTERVAL": "1"}
    keys.env.update(env)
    keys.start()
    token = ServiceProcess("token", env, log_dir, tag="-1").start()
    token2 = ServiceProcess("token", env, log_dir, tag="-2").start()
    env["TESSERA_TOKEN_SERVICE_URL"] = token.url
    others = [ServiceProcess(name, env, log_dir).start() for name in ("authn", "userinfo")]
    upstreams = {"token": token.url, "keys": keys.url, **{p.name: p.url for p in others}}
    log = open(log_dir / "gateway.log", "ab")
    gateway = subprocess.Popen([sys.executable, "-m", "tessera", "gateway", "--port", str(gateway_port),
                                "--upstreams", json.dumps(upstreams)], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(public_url + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return RunningSuite(public_url, env, log_dir, token, token2, keys, gateway, others)
