"""`tessera run` (what `make run` starts) brings every service to ready, seeds the demo, stops
cleanly, and a second run keeps the data."""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from shared.embedded import free_port


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


def _token(dev):
    basic = base64.b64encode(f"{dev['client_id']}:{dev['client_secret']}".encode()).decode()
    request = urllib.request.Request(f"{dev['issuer']}/token", data=b"grant_type=client_credentials",
                                     headers={"Authorization": f"Basic {basic}",
                                              "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _start(cwd, env):
    proc = subprocess.Popen([sys.executable, "-m", "tessera", "run"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if "Press Ctrl-C" in line:
            break
    return proc, output


def _stop(proc, output):
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(output) + rest


def test_tessera_run_starts_every_service_seeds_the_demo_and_keeps_data(tmp_path, suite_secrets):
    gateway = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(suite_secrets)  # no URLs: the run starts its own embedded servers under .tessera/
    env.update({"TESSERA_GATEWAY_PORT": str(gateway), "TESSERA_PUBLIC_URL": f"http://127.0.0.1:{gateway}"})
    proc, output = _start(tmp_path, env)
    try:
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
            with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
                assert b"tessera_http_requests_total" in response.read()
        dev_file = tmp_path / ".tessera" / "dev.json"
        dev = json.loads(dev_file.read_text())
        assert set(dev) == {"issuer", "client_id", "client_secret", "redirect_uri", "username", "password",
                            "admin_client_id", "admin_client_secret"}
        assert dev["issuer"] == f"http://127.0.0.1:{gateway}/demo" and dev["client_secret"] in text
        assert oct(dev_file.stat().st_mode & 0o777) == "0o600"
        assert _token(dev)["token_type"] == "Bearer"
    finally:
        _stop(proc, output)
    for name in ("token", "keys", "authn", "userinfo"):
        log = (tmp_path / ".tessera" / "logs" / f"{name}.log").read_text()
        assert '"service.stopped"' in log, name

    # A second run keeps the data: the same demo credentials still work.
    proc, output = _start(tmp_path, env)
    try:
        assert "Press Ctrl-C" in "".join(output), "".join(output)
        again = json.loads((tmp_path / ".tessera" / "dev.json").read_text())
        assert again == dev
        assert _token(again)["token_type"] == "Bearer"
    finally:
        _stop(proc, output)
