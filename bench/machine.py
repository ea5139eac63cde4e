"""What the benchmark ran on: the machine and the versions of the tools."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    out = (done.stdout or done.stderr).strip().splitlines()
    return out[0].strip() if out else "unknown"


def wrk_version() -> str:
    # `wrk -v` prints its version line and then its usage
    return _first_line(["wrk", "-v"]).split(" Copyright")[0]


def describe() -> dict[str, str]:
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu_model(),
        "memory": f"{memory_gib():.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "load generator": wrk_version(),
        "taskset": _first_line(["taskset", "--version"]),
    }


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk", "node", "taskset") if shutil.which(tool) is None]


class CpuLedger:
    """How the machine's CPU time went during the run: this benchmark (its own process and every
    process it started, once they have exited), everything else, and what the hypervisor took
    (steal). Other work on the machine during a run makes its figures less reliable."""

    def __init__(self) -> None:
        self.start_stat = _proc_stat()
        self.start_ours = _ours()
        self.start_wall = time.monotonic()

    def close(self) -> dict[str, float]:
        """Shares of all the CPUs' time since creation: {"ours", "others", "steal"}."""
        stat, ours = _proc_stat(), _ours()
        hz = os.sysconf("SC_CLK_TCK")
        capacity = (time.monotonic() - self.start_wall) * (os.cpu_count() or 1)
        busy = sum(stat[i] - self.start_stat[i] for i in (0, 1, 2, 5, 6)) / hz
        steal = (stat[7] - self.start_stat[7]) / hz if len(stat) > 7 else 0.0
        used = ours - self.start_ours
        return {"ours": used / capacity, "others": max(0.0, busy - used) / capacity, "steal": steal / capacity}


def _proc_stat() -> list[int]:
    with open("/proc/stat") as stat:
        return [int(x) for x in stat.readline().split()[1:]]


def _ours() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
