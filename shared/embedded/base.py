"""Shared machinery for running a server binary as a supervised child process.

Each embedded server listens on 127.0.0.1 only, writes its stdout/stderr to
``<data_dir>/server.log`` and runs in its own session, so a terminal Ctrl-C
reaches only the supervisor, which then stops the children in order. An
``atexit`` hook stops whatever is still running when the interpreter exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Any, NoReturn

import psutil

HOST = "127.0.0.1"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be prepared or started."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True if a server could bind 127.0.0.1:``port`` now (ignoring TIME_WAIT, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def process_serves(pid: int, path: Path) -> bool:
    """True if process ``pid`` is alive and works in ``path`` (its cwd or an argument is ``path`` or inside it)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        places = list(proc.cmdline())
        with contextlib.suppress(psutil.AccessDenied):
            places.append(proc.cwd())
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # cannot tell: assume it is still ours
    root = str(path)
    return any(p == root or p.startswith(root + os.sep) for p in places)


_running: list[EmbeddedServer] = []


@atexit.register
def _stop_all() -> None:
    """Stop every embedded server still running, most recently started first."""
    for server in reversed(list(_running)):
        with contextlib.suppress(Exception):
            server.stop()


class EmbeddedServer:
    """One server process: port choice, log file, readiness wait, stop/kill.

    Subclasses set ``name``, ``stop_signal`` and implement ``_command`` and
    ``_probe``; they may override ``_prepare`` (before spawn), ``_after_ready``
    and ``_spawn_kwargs``.
    """

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- to be provided by subclasses ------------------------------------

    @property
    def url(self) -> str:
        """Connection URL; valid after ``start()``."""
        raise NotImplementedError

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _probe(self, port: int) -> bool:
        """True once the server accepts and answers clients."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """Called before each spawn (e.g. initdb, stale lock cleanup)."""

    def _after_ready(self) -> None:
        """Called once the server answers (e.g. create the database)."""

    def _spawn_kwargs(self) -> dict[str, Any]:
        return {}

    # -- public API ------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30) -> str:
        """Start the server (no-op if running), wait until it answers, return its URL."""
        if self.running:
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_running_elsewhere()
        self._prepare()
        previous_port = self.port
        port = self._choose_port()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        cmd = self._command(port)
        self._log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {shlex.join(cmd)}\n".encode())
        self._log.flush()
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                cwd=self.data_dir, start_new_session=True, **self._spawn_kwargs(),
            )
        except OSError as exc:
            self._close_log()
            raise EmbeddedServerError(f"{self.name} could not be executed: {exc}") from exc
        self.port = port
        _running.append(self)
        (self.data_dir / "pid").write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while not self._probe(port):
            code = self._proc.poll()
            if code is not None or time.monotonic() > deadline:
                self.kill()
                self.port = previous_port  # a port picked for this attempt is not sticky
                why = f"exited with code {code}" if code is not None else f"not ready after {timeout:g}s"
                self.fail(f"failed to start on {HOST}:{port} ({why})")
            time.sleep(0.05)
        (self.data_dir / "port").write_text(f"{port}\n")
        try:
            self._after_ready()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self, timeout: float = 15) -> None:
        """Ask the server to shut down cleanly; SIGKILL its process group after ``timeout``. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._killpg()
                proc.wait()
        self._forget()

    def kill(self) -> None:
        """SIGKILL the server and every process in its group (simulates a crash)."""
        if self._proc is None:
            return
        self._killpg()
        self._proc.wait()
        self._forget()

    def fail(self, what: str) -> NoReturn:
        """Raise ``EmbeddedServerError`` naming the server, with the log's last lines."""
        lines = []
        with contextlib.suppress(OSError):
            lines = [ln.strip() for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        tail = " | ".join(lines[-5:]) or "(empty log)"
        raise EmbeddedServerError(f"{self.name} {what}; log {self.log_path}: {tail}")

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running on {HOST}:{self.port}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.data_dir} {state}>"

    # -- helpers -----------------------------------------------------------

    def _refuse_if_running_elsewhere(self) -> None:
        """Raise if a server started by an earlier (e.g. killed) supervisor still uses this data dir."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.data_dir / "pid").read_text().strip())
            if process_serves(pid, self.data_dir):
                raise EmbeddedServerError(f"{self.name} is already running on {self.data_dir} (pid {pid}, left by an "
                                          f"earlier run?); stop it first, e.g. kill {pid}")

    def _choose_port(self) -> int:
        """Same port as last start in this process or as given; else the one remembered on disk if free; else new."""
        if self.port is not None:
            return self.port
        with contextlib.suppress(OSError, ValueError):
            remembered = int((self.data_dir / "port").read_text().strip())
            if 0 < remembered < 65536 and port_is_free(remembered):
                return remembered
        return free_port()

    def _killpg(self) -> None:
        assert self._proc is not None
        # start_new_session=True made the server its own process-group leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()

    def _forget(self) -> None:
        self._proc = None
        with contextlib.suppress(OSError):
            (self.data_dir / "pid").unlink()
        if self in _running:
            _running.remove(self)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def tcp_exchange(port: int, payload: bytes, expect: bytes, *, timeout: float = 1.0) -> bool:
    """Connect to 127.0.0.1:``port``, send ``payload`` (may be empty), return whether the reply starts with ``expect``."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            if payload:
                sock.sendall(payload)
            reply = b""
            while len(reply) < len(expect):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
            return reply.startswith(expect)
    except OSError:
        return False
