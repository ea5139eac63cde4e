"""Server processes for the benchmark: started pinned to CPUs, waited for, measured, stopped."""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil


class ServerError(RuntimeError):
    """A server did not start or died."""


def pinned(cpus: str, argv: list[str]) -> list[str]:
    """``argv`` run under ``taskset -c cpus``."""
    return ["taskset", "-c", cpus, *argv]


@contextlib.contextmanager
def affinity(cpus: str):
    """Run the block with this process pinned to ``cpus``: children started in it inherit that."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, parse_cpus(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def parse_cpus(cpus: str) -> set[int]:
    """``"0"``, ``"0,2"`` or ``"0-3"`` as a set of CPU numbers (taskset's list format)."""
    out: set[int] = set()
    for part in cpus.split(","):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


class Server:
    """One server process: its command line, log file and readiness URL."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_dir: Path,
                 ready_url: str, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.ready_url = ready_url
        self.proc: subprocess.Popen | None = None

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> "Server":
        """Start and wait until ``ready_url`` answers 200; on failure the process is stopped."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> "Server":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited {self.proc.returncode}; last log lines:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as response:
                    if response.status == 200:
                        return self
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.1)
        raise ServerError(f"{self.name} not ready at {self.ready_url} in {timeout:.0f}s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def read_pid(path: Path) -> int | None:
    """The process id in a pid file (as the embedded servers write), or None."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (VmRSS in /proc/PID/status); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _family(pid: int, tree: bool) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)] if tree else [root]
    except psutil.NoSuchProcess:
        return []


def memory_bytes(pid: int, tree: bool = False) -> int:
    """RSS of one process; with ``tree``, the proportional set size of it and its children
    (for Postgres: postmaster and backends, whose shared buffers RSS would count once each)."""
    if not tree:
        return rss_bytes(pid)
    total = 0
    for proc in _family(pid, tree):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_full_info().pss
    return total


def cpu_seconds(pid: int, tree: bool = False) -> float:
    """User + system CPU time of a process (and, with ``tree``, of its children)."""
    total = 0.0
    for proc in _family(pid, tree):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def all_children_cpu_seconds() -> float:
    """CPU time of every process this one started, and theirs."""
    return sum(cpu_seconds(child.pid) for child in psutil.Process().children(recursive=True))
