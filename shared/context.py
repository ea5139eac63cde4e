"""Per-request context (request id, actor) that events and log lines pick up."""
from __future__ import annotations

import contextvars

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("actor", default=None)
