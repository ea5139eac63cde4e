"""The JetStream stream every service publishes to and every consumer reads from."""
from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

STREAM = "TESSERA"
SUBJECTS = ["tessera.>"]
DUPLICATE_WINDOW_S = 120.0


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the stream if absent (idempotent; every service may call it at start)."""
    config = StreamConfig(
        name=STREAM, subjects=SUBJECTS, retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        # Already there with another config (an operator tuned it): leave it as it is.
        await js.stream_info(STREAM)
