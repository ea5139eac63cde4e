"""SIGTERM drains: a request in flight is answered, new connections are refused, exit code 0,
and closing its own NATS connection is not reported as a lost one."""
import base64
import socket
import time
import urllib.parse

from tests.support.processes import ServiceProcess


def test_sigterm_drains_in_flight_request_then_exits_0(suite, admin, tmp_path):
    proc = ServiceProcess("token", suite.env, tmp_path).start()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "tessera:admin"}).encode()
    basic = base64.b64encode(f"{admin.client_id}:{admin.client_secret}".encode()).decode()
    head = (f"POST /system/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", proc.port), timeout=20)
    try:
        sock.sendall(head + body[:10])          # the request is in flight: half its body sent
        time.sleep(0.3)
        proc.proc.send_signal(15)               # SIGTERM
        time.sleep(0.5)
        try:                                    # the listener is closed to new connections
            socket.create_connection(("127.0.0.1", proc.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        sock.sendall(body[10:])                 # ...and the in-flight request still completes
        response = b""
        while b"\r\n\r\n" not in response or b"access_token" not in response:
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    finally:
        sock.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:300]
    assert b"access_token" in response
    assert refused
    assert proc.proc.wait(30) == 0
    log = proc.log()
    assert '"service.stopping"' in log and '"service.stopped"' in log
    assert '"nats.closed"' in log and '"nats.disconnected"' not in log
