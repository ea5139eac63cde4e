"""Structured logs: JSON in production, readable in a terminal.

One event name per line, the ``request_id`` bound on every line of a request, and a
processor that drops anything secret before it is rendered.
"""
from __future__ import annotations

import logging
import re
import sys
from typing import Any

import orjson
import structlog

from . import context

SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|authorization|cookie|code|assertion|private|credential|otp|pepper|kek)",
    re.IGNORECASE,
)
# Keys that match the pattern above but hold no secret.
SAFE_KEYS = frozenset({"status_code", "error_code", "token_type", "grant_type", "response_type",
                       "token_endpoint_auth_method", "code_challenge_method"})
REDACTED = "[redacted]"


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Replace the value of every key that names a secret."""
    for key in list(event_dict):
        if key not in SAFE_KEYS and key != "event" and SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
    return event_dict


def ensure_request_id(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Every line carries a request id: the request's (``shared.context.request_id``, set by the
    HTTP middleware), or ``-`` outside a request."""
    if "request_id" not in event_dict:
        event_dict["request_id"] = context.request_id.get() or "-"
    return event_dict


def _json_dumps(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


_level = logging.INFO


def enabled(level: int) -> bool:
    """Whether lines of ``level`` (``logging.INFO``…) are written: hot paths skip building the
    ones that would be dropped."""
    return level >= _level


def configure_logging(service: str, fmt: str = "auto", level: str = "info") -> None:
    """Configure structlog for the whole process (call once, at start)."""
    global _level
    _level = getattr(logging, level.upper())
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if fmt == "console"
        else structlog.processors.JSONRenderer(serializer=_json_dumps)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            ensure_request_id,
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries that log through the standard library go through the same redaction.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
