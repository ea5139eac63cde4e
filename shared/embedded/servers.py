"""Start the Postgres, Redis and NATS servers Tessera needs, unless URLs are configured.

``EmbeddedServers`` is what ``make run`` / the test suite use: for each of
``TESSERA_DATABASE_URL``, ``TESSERA_REDIS_URL`` and ``TESSERA_NATS_URL`` that
is unset or empty it starts a real server under ``root`` and returns its URL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from .base import EmbeddedServer, EmbeddedServerError, free_port
from .nats import EmbeddedNats
from .postgres import EmbeddedPostgres
from .redis import EmbeddedRedis

__all__ = [
    "EmbeddedNats", "EmbeddedPostgres", "EmbeddedRedis", "EmbeddedServer", "EmbeddedServerError",
    "EmbeddedServers", "free_port",
]


class EmbeddedServers:
    """Starts whichever of the three servers is not configured in ``env`` (a mapping like ``os.environ``).

    Data lives in ``root/"postgres"``, ``root/"redis"`` and ``root/"nats"``.
    ``fast`` is passed to Postgres (no fsync), ``persist`` to Redis (AOF on/off).
    """

    def __init__(self, root: Path, env: Mapping[str, str], *, fast: bool = False, persist: bool = True) -> None:
        self.root = Path(root)
        self.env = env
        self.fast = fast
        self.persist = persist
        self.started: list[EmbeddedServer] = []
        self.urls: dict[str, str] = {}

    def _wanted(self) -> list[tuple[str, Callable[[], EmbeddedServer]]]:
        return [
            ("TESSERA_DATABASE_URL", lambda: EmbeddedPostgres(self.root / "postgres", fast=self.fast)),
            ("TESSERA_REDIS_URL", lambda: EmbeddedRedis(self.root / "redis", persist=self.persist)),
            ("TESSERA_NATS_URL", lambda: EmbeddedNats(self.root / "nats")),
        ]

    def start(self) -> dict[str, str]:
        """Start the missing servers; return all three URLs (given or embedded). On failure stop what started."""
        urls: dict[str, str] = {}
        try:
            for var, make in self._wanted():
                given = (self.env.get(var) or "").strip()
                if given:
                    urls[var] = given
                    continue
                server = make()
                urls[var] = server.start()
                self.started.append(server)
        except BaseException:
            self.stop()
            raise
        self.urls = urls
        return urls

    def stop(self) -> None:
        """Stop the servers this object started, in reverse order. Idempotent."""
        errors: list[BaseException] = []
        while self.started:
            server = self.started.pop()
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> dict[str, str]:
        """``with EmbeddedServers(root, os.environ) as urls:`` starts and yields the URL mapping."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
