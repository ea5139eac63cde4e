"""What the benchmark ran on: the machine and the versions of the tools."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess


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
