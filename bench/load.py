"""The load generator: Debian's ``wrk`` with the Lua scripts in ``bench/wrk``, pinned to its CPUs.

A :class:`Target` is what one system answers for one scenario (method, URL, Basic header,
form). :func:`run_wrk` runs wrk once and returns what ``bench/wrk/stats.lua`` printed: every
response is counted by status, and only the 2xx ones count as served.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .oauth_client import basic_header

WRK_DIR = Path(__file__).parent / "wrk"


@dataclass(frozen=True)
class Target:
    url: str
    method: str = "GET"                 # GET (wrk/get.lua) or POST (wrk/form.lua)
    authorization: str | None = None    # the Basic header of a form POST
    form: str = ""                      # the urlencoded body of a form POST
    shown: tuple[str, str] = ("", "")   # what printed command lines say instead of header and form
    script: str | None = None           # another script of bench/wrk (its arguments in script_args)
    script_args: tuple[str, ...] = ()
    # called before every run of this target with that run's load: makes what the run uses up
    # (codes, refresh-token families) and answers the script's arguments (instead of script_args)
    prepare: Callable[["Load"], tuple[str, ...]] | None = field(default=None, compare=False)
    shown_args: tuple[str, ...] = ()    # what printed command lines say instead of the script's arguments
    # another load generator than wrk (the sign-in driver, bench/signin.py): its command line for a
    # load (shown=True: as printed) and its environment; it prints the JSON line stats.lua prints
    generator: Callable[["Load", bool], list[str]] | None = field(default=None, compare=False)
    env: dict[str, str] | None = field(default=None, compare=False)
    observe: Callable[["WrkResult"], None] | None = field(default=None, compare=False)   # told each run's result
    describe: Callable[[], str] | None = field(default=None, compare=False)   # what prepare made, for the report
    checker: Callable[[], str] | None = field(default=None, compare=False)   # the check before the load (bench/check.py)


def form_post(url: str, client_id: str, secret: str, form: str, shown_form: str | None = None) -> Target:
    """A form POST authenticated with client_secret_basic; printed without the secret."""
    return Target(url, "POST", basic_header(client_id, secret), form,
                  shown=(f"Basic <base64 {client_id}:secret>", shown_form or form))


@dataclass(frozen=True)
class Load:
    connections: int
    threads: int
    duration_s: float
    cpus: str
    delay_ms: int = 0                   # think time per connection (0: closed loop, full speed)


@dataclass
class WrkResult:
    requests: int
    non2xx: int
    statuses: dict[str, int]
    errors: dict[str, int]
    duration_s: float
    latency_us: dict[str, float]
    command: str = ""
    counters: dict[str, int] = field(default_factory=dict)   # the script's own events (bench/wrk/stats.lua)

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx

    @property
    def ok_per_s(self) -> float:
        """Throughput counting successes only."""
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.values())


@dataclass
class Measurement:
    """Several rounds of one target under one load; figures are the median round's."""

    rounds: list[WrkResult] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return statistics.median(r.ok_per_s for r in self.rounds)

    def latency_ms(self, percentile: str) -> float:
        return statistics.median(r.latency_us[percentile] for r in self.rounds) / 1000

    @property
    def non2xx(self) -> int:
        return sum(r.non2xx for r in self.rounds)

    @property
    def socket_errors(self) -> int:
        return sum(r.socket_errors for r in self.rounds)

    @property
    def statuses(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for r in self.rounds:
            for status, count in r.statuses.items():
                merged[status] = merged.get(status, 0) + count
        return merged

    @property
    def counters(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for r in self.rounds:
            for name, count in r.counters.items():
                merged[name] = merged.get(name, 0) + count
        return merged


def wrk_argv(target: Target, load: Load, *, shown: bool = False) -> list[str]:
    """The wrk command line; ``shown=True`` puts a placeholder where the Basic secret goes."""
    if target.generator is not None:
        return target.generator(load, shown)
    argv = ["taskset", "-c", load.cpus, "wrk", f"-t{load.threads}", f"-c{load.connections}",
            f"-d{load.duration_s:g}s", "--latency", "--timeout", "10s"]
    delay = [str(load.delay_ms)] if load.delay_ms else []
    if target.script:
        args = (target.shown_args or target.script_args) if shown else target.script_args
        return [*argv, "-s", str(_script(target.script)), target.url, "--", *args, *delay]
    if target.method == "POST":
        auth, form = target.shown if shown else (target.authorization or "", target.form)
        return [*argv, "-s", str(_script("form.lua")), target.url, "--", auth, form, *delay]
    return [*argv, "-s", str(_script("get.lua")), target.url, *(["--", *delay] if delay else [])]


def _script(name: str) -> Path:
    path = WRK_DIR / name
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def ready(target: Target, load: Load) -> Target:
    """The target with what one run of ``load`` uses up made (its ``prepare``), ready to run:
    called before the resource watch starts, so making codes or families is not counted as load."""
    if target.prepare is None:
        return target
    return dataclasses.replace(target, script_args=target.prepare(load), prepare=None)


def run_wrk(target: Target, load: Load) -> WrkResult:
    return run_wrk_together([(target, load)])


def run_wrk_together(runs: list[tuple[Target, Load]]) -> WrkResult:
    """Several wrk processes at once (one per target, e.g. one per server process: wrk takes
    one host); their counts summed. One run is just :func:`run_wrk`."""
    prepared = [(ready(target, load), load) for target, load in runs]
    procs = [(target, load, subprocess.Popen(wrk_argv(target, load), stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True,
                                             env={**os.environ, **target.env} if target.env else None))
             for target, load in prepared]
    results = []
    for target, load, proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=load.duration_s + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        line = next((ln for ln in stdout.splitlines() if ln.startswith('{"bench"')), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {stderr.strip() or stdout.strip()}")
        data = json.loads(line)
        results.append(WrkResult(requests=data["requests"], non2xx=data["non2xx"], statuses=data["statuses"],
                                 errors=data["errors"], duration_s=data["duration_s"],
                                 latency_us=data["latency_us"], counters=data.get("counters") or {},
                                 command=shlex.join(wrk_argv(target, load, shown=True))))
        if target.observe is not None:
            target.observe(results[-1])
    return results[0] if len(results) == 1 else _summed(results)


def _summed(results: list[WrkResult]) -> WrkResult:
    """Concurrent runs as one: counts summed over the longest run's time (so the rate is, if
    anything, under-stated), latency percentiles the worst of the runs."""
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for r in results:
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
        for kind, count in r.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    counters: dict[str, int] = {}
    for r in results:
        for name, count in r.counters.items():
            counters[name] = counters.get(name, 0) + count
    return WrkResult(requests=sum(r.requests for r in results), non2xx=sum(r.non2xx for r in results),
                     statuses=statuses, errors=errors, counters=counters, duration_s=max(r.duration_s for r in results),
                     latency_us={k: max(r.latency_us[k] for r in results) for k in results[0].latency_us},
                     command="\n".join(r.command for r in results))


def measure(target: Target, load: Load, rounds: int, warmup_s: float) -> Measurement:
    """Warm up (not counted), then ``rounds`` rounds of ``load``."""
    if warmup_s > 0:
        run_wrk(target, Load(load.connections, load.threads, warmup_s, load.cpus, load.delay_ms))
    return Measurement([run_wrk(target, load) for _ in range(rounds)])


def pacing_for(rate: float, connections: int, response_ms: float = 0.0) -> int:
    """Think time per connection (ms) so that ``connections`` connections, each waiting
    ``response_ms`` for an answer, offer about ``rate`` requests/s."""
    return max(1, round(connections * 1000 / rate - response_ms)) if rate > 0 else 0


def paced_load(target: Target, load: Load, rate: float, probe_s: float = 3.0) -> Load:
    """``load`` with a think time that offers about ``rate``: a first guess ignoring the response
    time, one short probe run with it, then the guess corrected by the response time seen."""
    guess = Load(load.connections, load.threads, probe_s, load.cpus, pacing_for(rate, load.connections))
    probe = run_wrk(target, guess)
    response_ms = max(0.0, load.connections * 1000 / probe.ok_per_s - guess.delay_ms) if probe.ok else 0.0
    return Load(load.connections, load.threads, load.duration_s, load.cpus,
                pacing_for(rate, load.connections, response_ms))


PACED_WITHIN = 0.2     # latency rounds that offered more than ±20 % off their rate are paced again


def repaced(load: Load, achieved: float, rate: float) -> Load | None:
    """When rounds run with ``load`` achieved a rate more than ``PACED_WITHIN`` off ``rate``, the
    load that offers ``rate``, its think time corrected by the response time those rounds saw
    (as :func:`paced_load` does from its probe); else None. A probe can mislead: one run of the
    benchmark paced Tessera from a slow probe and measured it at 62 % of its peak, not half."""
    if not achieved or abs(achieved / rate - 1) <= PACED_WITHIN:
        return None
    response_ms = max(0.0, load.connections * 1000 / achieved - load.delay_ms)
    return dataclasses.replace(load, delay_ms=pacing_for(rate, load.connections, response_ms))
