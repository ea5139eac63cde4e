"""`tessera run` (what `make run` starts) brings every service to ready and stops cleanly."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from shared.embedded import free_port


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_tessera_run_starts_every_service_ready_and_stops_with_exit_0(tmp_path, service_env):
    gateway = free_port()
    env = dict(service_env)
    env.update({"TESSERA_GATEWAY_PORT": str(gateway), "TESSERA_PUBLIC_URL": f"http://127.0.0.1:{gateway}"})
    proc = subprocess.Popen([sys.executable, "-m", "tessera", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(output)
        assert "Press Ctrl-C" in text, text
        urls = {}
        for line in output:
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("token", "keys", "authn", "userinfo"):
                urls[parts[0]] = parts[1]
        assert set(urls) == {"token", "keys", "authn", "userinfo"}
        for name, url in urls.items():
            status, body = _get(url + "/readyz")
            assert status == 200 and body["status"] == "ready", (name, body)
            status, _ = _get(url + "/healthz")
            assert status == 200
            with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
                assert b"tessera_http_requests_total" in response.read()
        # The suite's secrets are generated once and kept private.
        secrets_file = tmp_path / ".tessera" / "secrets.json"
        assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(output) + rest
    # Every service logged its orderly stop.
    for name in ("token", "keys", "authn", "userinfo"):
        log = (tmp_path / ".tessera" / "logs" / f"{name}.log").read_text()
        assert '"service.stopped"' in log, name
