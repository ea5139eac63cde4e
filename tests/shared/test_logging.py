"""Log lines: one event name, a request id on every line, secrets never rendered."""
import io
import json
import sys

import structlog

from shared.logging import REDACTED, configure_logging, ensure_request_id, redact_secrets


def test_secret_fields_are_redacted_and_harmless_ones_kept():
    line = redact_secrets(None, "info", {
        "event": "client.authenticated", "client_secret": "s3cret", "password": "p", "authorization": "Basic x",
        "refresh_token": "r", "code": "c", "private_jwk": {"d": "x"}, "status_code": 200,
        "grant_type": "client_credentials", "client_id": "demo"})
    for key in ("client_secret", "password", "authorization", "refresh_token", "code", "private_jwk"):
        assert line[key] == REDACTED, key
    assert line["status_code"] == 200 and line["grant_type"] == "client_credentials" and line["client_id"] == "demo"


def test_lines_outside_a_request_say_so():
    assert ensure_request_id(None, "info", {"event": "x"})["request_id"] == "-"
    assert ensure_request_id(None, "info", {"event": "x", "request_id": "abc"})["request_id"] == "abc"


def test_json_lines_carry_event_request_id_and_no_secret(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging("test", "json", "info")
    try:
        structlog.contextvars.bind_contextvars(request_id="r-1")
        structlog.get_logger("t").info("token.issued", client_secret="hunter2", client_id="demo")
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
        structlog.reset_defaults()
    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert line["event"] == "token.issued" and line["request_id"] == "r-1" and line["service"] == "test"
    assert "hunter2" not in buffer.getvalue()
