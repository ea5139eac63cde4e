"""Real Postgres, Redis and NATS (JetStream) servers run as child processes on free loopback ports."""

from .servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServer,
    EmbeddedServerError,
    EmbeddedServers,
    free_port,
)

__all__ = [
    "EmbeddedNats", "EmbeddedPostgres", "EmbeddedRedis", "EmbeddedServer", "EmbeddedServerError",
    "EmbeddedServers", "free_port",
]
