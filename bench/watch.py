"""Each server process's memory and CPU while its system is under load.

A system lists its processes (``processes()``: label → pid, and whether to count children).
Memory is sampled every half second during the load (peak kept) and once when idle after
start; CPU, per scenario, is the process's CPU time over the loaded wall time, as a share of
one CPU: where the server CPUs go.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from .procs import cpu_seconds, memory_bytes


@dataclass
class Usage:
    idle_bytes: int = 0
    peak_bytes: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)       # scenario -> CPU seconds
    loaded_s: dict[str, float] = field(default_factory=dict)    # scenario -> seconds under load

    def cpu_share(self, scenario: str) -> float | None:
        loaded = self.loaded_s.get(scenario)
        return self.cpu_s[scenario] / loaded if loaded else None


class ResourceWatch:
    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.usage: dict[str, Usage] = {}

    def baseline(self, system) -> None:
        for label, (pid, tree) in system.processes().items():
            if pid:
                self.usage.setdefault(label, Usage()).idle_bytes = memory_bytes(pid, tree)

    def _sample(self, watched: dict) -> None:
        for label, (pid, tree) in watched.items():
            usage = self.usage.setdefault(label, Usage())
            usage.peak_bytes = max(usage.peak_bytes, memory_bytes(pid, tree))

    @contextlib.contextmanager
    def under_load(self, system, scenario: str):
        watched = {label: how for label, how in system.processes().items() if how[0]}
        cpu_before = {label: cpu_seconds(pid, tree) for label, (pid, tree) in watched.items()}
        started = time.monotonic()
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.interval_s):
                self._sample(watched)
        sampler = threading.Thread(target=loop, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join()
            elapsed = time.monotonic() - started
            for label, (pid, tree) in watched.items():
                usage = self.usage.setdefault(label, Usage())
                used = max(0.0, cpu_seconds(pid, tree) - cpu_before[label])
                usage.cpu_s[scenario] = usage.cpu_s.get(scenario, 0.0) + used
                usage.loaded_s[scenario] = usage.loaded_s.get(scenario, 0.0) + elapsed
                usage.peak_bytes = max(usage.peak_bytes, usage.idle_bytes)

    def forget(self, system, scenario: str) -> None:
        """Drop what ``system``'s processes used under ``scenario`` (rounds measured again)."""
        for label in system.processes():
            if label in self.usage:
                self.usage[label].cpu_s.pop(scenario, None)
                self.usage[label].loaded_s.pop(scenario, None)

    def busy(self, system, scenario: str) -> float:
        """CPU share of all of a system's processes together while it served ``scenario``."""
        return busy_share(self.usage, system.processes(), scenario)


def busy_share(usage: dict[str, Usage], labels, scenario: str) -> float:
    """CPU share of the processes named by ``labels`` together while they served ``scenario``."""
    shares = (usage[label].cpu_share(scenario) for label in labels if label in usage)
    return sum(share for share in shares if share is not None)


def half_key(scenario: str) -> str:
    """The key a scenario's latency rounds (about half of peak) count their CPU under."""
    return f"{scenario}@half"


def cost_per_request(usage: dict[str, Usage], rounds: list, key: str, labels) -> dict[str, float] | None:
    """Microseconds of CPU per successful request of each process named by ``labels``, over the
    ``rounds`` that counted their CPU under ``key``; None when nothing was served or counted."""
    served = sum(r.ok for r in rounds)
    cpu = {label: usage[label].cpu_s.get(key) for label in labels if label in usage}
    if not served or not any(cpu.values()):
        return None
    return {label: seconds * 1e6 / served for label, seconds in cpu.items() if seconds}
