"""Tessera's scaling rows, measured after the side-by-side scenarios, in the same run.

* **1 vs N applications** (N = 10,000; 1,000 with ``--quick``): N applications (access tokens
  JWT ES256, like ``bench``) are created through the admin API of the token service, spread
  over tenants of 1,000 applications each, with a bounded number of requests in flight; the
  time it takes is part of the result. A warm-up pass then asks every application for one
  token (an application's first token makes the token service fetch its signing keys from the
  keys service, once, by design; its first lookup fills the registry cache). Then, round by
  round, client credentials against the one application ``bench`` and against all N (wrk's
  ``bench/wrk/many.lua`` picks an application and its client at random for every request),
  interleaved, with the main rows' wrk settings.
* **1 vs 2 token-service processes**: a second token process (the first one's environment,
  another port, pinned to the same server CPUs); client credentials for ``bench`` against one
  process with all the connections, and against both with two wrk processes (wrk takes one
  host) of half the connections each, both on the load CPUs, their 2xx counts summed.
* **1,000 vs N users** (N = 1,000,000; 20,000 with ``--quick``; fewer when the time budget runs
  out, and the row says so): the full sign-in (bench/signin.py, users picked at random) with the
  user store at 1,000 users (the main rows' users), then N - 1,000 more are imported through
  authn's ``POST /admin/users/import`` (1,000 a call, the precomputed argon2id hash; the time it
  takes is part of the result), then the same sign-in picking from all N. Before each case
  Tessera is let digest what was loaded (bench/quiesce.py: its durable consumers and outboxes
  empty, ``VACUUM (ANALYZE)`` of the tables loaded, a ``CHECKPOINT``, its CPU quiet), and how long that took is
  printed: measured while the userinfo service's consumer was still applying the
  ``user.created`` events, the sign-in rate halved whatever users were picked. The store cannot
  shrink back, so the two cases are measured one after the other, not interleaved.
* **1,000 vs N live refresh tokens** (N = 1,000,000; 5,000 with ``--quick``): Tessera has no bulk
  API for grants, and a grant through the code flow's fast path (an SSO session authorizes, the
  code is redeemed) runs at about 64 a second here. The first 1,000 are made that way and
  refresh with rotation is measured (the main rows' wrk settings, bench/wrk/refresh.lua, whose
  families are also made through the flow before each run); then the table is filled up to N
  with synthetic live rows inserted directly (bench/refresh_fill.py, ``COPY``), Tessera is let
  digest it, and it is measured again; the counts of live and of all rows of
  ``token.refresh_tokens`` are printed with each case (rotation leaves the consumed rows behind).

The users and refresh-token rows measure their cases minutes apart (tens of minutes for the
refresh tokens, whose first case runs before the main rows), and this machine's speed drifts by
more than the ±10 % these rows judge. So after each of Tessera's rounds the peer runs a round of
the same scenario on its own data, which is the same in both cases (its 1,000 users; its
refresh-token families are made fresh each round): the peer's ratio between the cases is the
drift, and the report gives Tessera's ratio divided by it beside the raw one.
"""
from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .check import CheckFailed, check
from .load import Load, Measurement, Target, form_post, ready, run_wrk, run_wrk_together
from .procs import ServerError, affinity, all_children_cpu_seconds, parse_cpus, rss_bytes
from .provision import BenchClient
from .report import ScalingRow
from .scenarios import SCALING, TOKENS_FULL, USERS_FULL
from .tessera_suite import CC_FORM, USERS, TesseraSuite
from .watch import ResourceWatch

APPS_FULL = 10_000
APPS_QUICK = 1_000
TENANT_SIZE = 1_000          # applications per tenant
IN_FLIGHT = 16               # concurrent admin (and warm-up) requests
PROGRESS_EVERY_S = 10.0


def apps_title(n: int, quick: bool) -> str:
    title = f"1 vs {n:,} applications"
    if quick and n != APPS_FULL:
        title += f" (--quick: {n:,}, the full run uses {APPS_FULL:,})"
    return title


# Provisioning ----------------------------------------------------------------------------------
@dataclass
class Provisioned:
    wanted: int
    tenants: list[str]
    clients: list[BenchClient]
    seconds: float
    errors: Counter = field(default_factory=Counter)   # "HTTP status: error description" -> count
    stopped: str = ""                                   # why fewer than wanted were made

    @property
    def rate(self) -> float:
        return len(self.clients) / self.seconds if self.seconds else 0.0


class _Admin:
    """An admin bearer token, fetched again when the API answers 401 (it expired)."""

    def __init__(self, session: aiohttp.ClientSession, token_url: str, admin: BenchClient) -> None:
        self.session, self.token_url, self.admin = session, token_url, admin
        self.header: str | None = None
        self._lock = asyncio.Lock()

    async def bearer(self, stale: str | None = None) -> str:
        async with self._lock:
            if self.header is None or self.header == stale:
                async with self.session.post(f"{self.token_url}/system/token",
                                             headers={"Authorization": self.admin.basic},
                                             data={"grant_type": "client_credentials",
                                                   "scope": "tessera:admin"}) as resp:
                    body = await resp.json(content_type=None)
                    if resp.status != 200:
                        raise RuntimeError(f"admin token: HTTP {resp.status} {body}")
                self.header = f"Bearer {body['access_token']}"
            return self.header

    async def post(self, path: str, body: dict) -> tuple[int, dict]:
        bearer = await self.bearer()
        for _attempt in range(2):
            async with self.session.post(f"{self.token_url}{path}", json=body,
                                         headers={"Authorization": bearer}) as resp:
                status = resp.status
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = {"raw": (await resp.text())[:300]}
            if status != 401:
                break
            bearer = await self.bearer(stale=bearer)
        return status, answer if isinstance(answer, dict) else {"raw": str(answer)[:300]}


async def _provision(token_url: str, admin: BenchClient, n: int, in_flight: int,
                     budget_s: float) -> Provisioned:
    tenants = [f"scale-{t:02d}" for t in range((n + TENANT_SIZE - 1) // TENANT_SIZE)]
    started = time.monotonic()
    made = Provisioned(n, tenants, [], 0.0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=in_flight)) as session:
        api = _Admin(session, token_url, admin)
        for tenant in tenants:
            status, body = await api.post("/admin/tenants", {"id": tenant, "name": f"Scaling {tenant}"})
            if status != 201:
                raise RuntimeError(f"create tenant {tenant}: HTTP {status} {body}")
        queue = iter(range(n))
        last_print = [time.monotonic()]
        failures_in_a_row = [0]

        async def worker() -> None:
            for i in queue:
                if time.monotonic() - started > budget_s:
                    made.stopped = made.stopped or f"the time budget of {budget_s:.0f} s ran out"
                    return
                if failures_in_a_row[0] >= 50:
                    made.stopped = made.stopped or "50 creations in a row failed"
                    return
                app_id = f"scale-{i:05d}"
                try:
                    status, body = await api.post(f"/admin/tenants/{tenants[i // TENANT_SIZE]}/applications", {
                        "id": app_id, "name": f"Scaling {i}",
                        "settings": {"access_token_format": "jwt", "access_token_alg": "ES256"}})
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    status, body = 0, {"error": type(exc).__name__, "error_description": str(exc)[:200]}
                if status == 201:
                    default = body["default_client"]
                    made.clients.append(BenchClient(app_id, default["client_id"], default["client_secret"]))
                    failures_in_a_row[0] = 0
                else:
                    made.errors[f"HTTP {status}: {body.get('error')} {str(body.get('error_description', ''))[:150]}"
                                .strip()] += 1
                    failures_in_a_row[0] += 1
                now = time.monotonic()
                if now - last_print[0] >= PROGRESS_EVERY_S:
                    last_print[0] = now
                    done = len(made.clients)
                    print(f"      {done:,}/{n:,} applications ({done / (now - started):,.1f}/s, "
                          f"{now - started:,.0f} s, {sum(made.errors.values())} failed)", flush=True)

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    made.seconds = time.monotonic() - started
    made.clients.sort(key=lambda c: c.application)
    return made


@dataclass
class Warmed:
    seconds: float
    statuses: Counter


async def _warm(token_url: str, clients: list[BenchClient], in_flight: int) -> Warmed:
    """One client-credentials token of every application."""
    started = time.monotonic()
    statuses: Counter = Counter()
    queue = iter(clients)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                     connector=aiohttp.TCPConnector(limit=in_flight)) as session:
        async def worker() -> None:
            for client in queue:
                try:
                    async with session.post(f"{token_url}/{client.application}/token", data=CC_FORM,
                                            headers={"Authorization": client.basic, "Content-Type":
                                                     "application/x-www-form-urlencoded"}) as resp:
                        await resp.read()
                        statuses[str(resp.status)] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    statuses[type(exc).__name__] += 1
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return Warmed(time.monotonic() - started, statuses)


def write_clients(path: Path, clients: list[BenchClient]) -> None:
    """The file bench/wrk/many.lua reads: token path and Basic header, one application a line."""
    path.write_text("".join(f"/{c.application}/token\t{c.basic}\n" for c in clients))


def settle(max_s: float = 60.0, quiet: float = 0.10) -> float:
    """Wait until every server process together uses less than ``quiet`` of one CPU over a
    second (the keys service and the event consumers catching up); seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < max_s:
        before = all_children_cpu_seconds()
        time.sleep(1.0)
        if all_children_cpu_seconds() - before < quiet:
            break
    return time.monotonic() - started


def settled(target: Target, load: Load, max_s: float) -> Target:
    """``target`` ready for a run of ``load`` (:func:`bench.load.ready`); when that made something
    (codes, refresh-token families), the server processes are let go quiet first."""
    prepared = ready(target, load)
    if prepared is not target:
        settle(max_s=max_s)
    return prepared


# Measuring -------------------------------------------------------------------------------------
def _interleaved(configs: dict[str, list[tuple[Target, Load]]], warm: dict[str, list[tuple[Target, Load]]],
                 args: argparse.Namespace, suite: TesseraSuite, watch: ResourceWatch) -> dict[str, Measurement]:
    """Warm each configuration up, then ``args.scaling_rounds`` rounds of each, interleaved."""
    if args.warmup > 0:
        for key in configs:
            run_wrk_together(warm[key])
    out = {key: Measurement() for key in configs}
    for _round in range(args.scaling_rounds):
        for key, runs in configs.items():
            with watch.under_load(suite, key):
                out[key].rounds.append(run_wrk_together(runs))
    return out


def _loads(args: argparse.Namespace, split: int = 1) -> tuple[Load, Load]:
    connections = max(1, args.connections // split)
    return (Load(connections, min(args.threads, connections), args.duration, args.load_cpus),
            Load(connections, min(args.threads, connections), args.warmup, args.load_cpus))


def _cpu(watch: ResourceWatch, key: str, label: str) -> str:
    usage = watch.usage.get(label)
    share = usage.cpu_share(key) if usage else None
    return "—" if share is None else f"{share:.0%}"


def _cpu_per_request(watch: ResourceWatch, suite: TesseraSuite, key: str, m: Measurement) -> str:
    """Microseconds of CPU per successful request, by process (the busiest first)."""
    parts = []
    for label in suite.processes():
        usage = watch.usage.get(label)
        share = usage.cpu_share(key) if usage else None
        if share and m.throughput:
            parts.append((share * 1e6 / m.throughput, label.removesuffix(" service")))
    return ", ".join(f"{name} {us:,.0f}" for us, name in sorted(parts, reverse=True) if us >= 1)


def _p(m: Measurement) -> str:
    return f"p50 {m.latency_ms('p50'):.1f} / p99 {m.latency_ms('p99'):.1f} ms"


def measure_processes(suite: TesseraSuite, args: argparse.Namespace, problems: list[str]) -> ScalingRow:
    row = ScalingRow(SCALING[3], ("1 process", "2 processes"), paired=True)
    cpus = parse_cpus(args.server_cpus)
    print(f"  {row.title}", flush=True)
    try:
        url2 = suite.start_second_token()
    except (ServerError, OSError) as exc:
        row.note = "the second process did not start"
        problems.append(f"{row.title}: the second token process did not start: {exc}")
        return row
    try:
        bench = suite.clients["bench"]
        one = form_post(f"{suite.token_url}/bench/token", bench.client_id, bench.client_secret, CC_FORM)
        two = form_post(f"{url2}/bench/token", bench.client_id, bench.client_secret, CC_FORM)
        try:
            row.check = check("cc_jwt", two, suite.jwks_url())
        except CheckFailed as exc:
            row.note = "check failed"
            problems.append(f"{row.title}: the second process's token did not check: {exc}")
            return row
        full, full_warm = _loads(args)
        half, half_warm = _loads(args, split=2)
        watch = ResourceWatch()
        row.base, row.scaled = _interleaved(
            {"procs-1": [(one, full)], "procs-2": [(one, half), (two, half)]},
            {"procs-1": [(one, full_warm)], "procs-2": [(one, half_warm), (two, half_warm)]},
            args, suite, watch).values()
        rss2 = rss_bytes(suite.second_token.pid) if suite.second_token else 0
        shared = (f"on this machine both token processes share the one server CPU ({args.server_cpus}) with "
                  "everything else of Tessera, so this row shows what a second process costs "
                  "(two event loops, two registry caches and key rings, the cross-replica invalidation "
                  "subscriptions), not a speed-up" if len(cpus) == 1 else
                  f"both token processes pinned to the server CPUs {args.server_cpus} ({len(cpus)} CPUs), "
                  "shared with Tessera's other processes; the scheduler places them")
        row.details = [
            f"{row.title}: the second process is `python -m services.token` with the first one's environment "
            f"(same Postgres, Redis, NATS, secrets and public URL) on another port, `taskset -c "
            f"{args.server_cpus}` like the first; {shared}.",
            f"{row.title}: 1 process: one wrk with {full.connections} connections; 2 processes: two wrk at "
            f"once, {half.connections} connections each, one per process (wrk takes one host), both on the "
            f"load CPU(s) {args.load_cpus}, their 2xx counts summed over the longer run's time; application "
            f"`bench` (JWT ES256); {args.scaling_rounds} round(s) × {args.duration:g} s interleaved after "
            f"{args.warmup:g} s warm-up of each, median quoted.",
            f"{row.title}: CPU while loaded (share of one CPU): 1 process: token {_cpu(watch, 'procs-1', 'token service')}, "
            f"postgres {_cpu(watch, 'procs-1', 'postgres')}; 2 processes: token #1 "
            f"{_cpu(watch, 'procs-2', 'token service')} + token #2 {_cpu(watch, 'procs-2', 'second token service')}, "
            f"postgres {_cpu(watch, 'procs-2', 'postgres')}; all of Tessera {watch.busy(suite, 'procs-1'):.0%} → "
            f"{watch.busy(suite, 'procs-2'):.0%}. Latency at that peak load: {_p(row.base)} → {_p(row.scaled)}. "
            f"Second process RSS {rss2 / 2**20:.1f} MiB.",
        ]
        row.rss = {"second token service": rss2} if rss2 else {}
        print(f"    1 process {row.base.throughput:>10,.0f} req/s, 2 processes {row.scaled.throughput:>10,.0f} req/s",
              flush=True)
    finally:
        suite.stop_second_token()
    return row


def measure_applications(suite: TesseraSuite, args: argparse.Namespace, work: Path,
                         problems: list[str]) -> ScalingRow:
    n = args.scaling_apps
    row = ScalingRow(apps_title(n, args.quick), ("1 application", f"{n:,} applications"), paired=True)
    tenants = (n + TENANT_SIZE - 1) // TENANT_SIZE
    print(f"  {row.title}: creating {n:,} applications in {tenants} tenant(s) through the admin API, "
          f"{IN_FLIGHT} requests in flight", flush=True)
    assert suite.admin is not None
    rss_before = rss_bytes(suite.services["token"].pid)
    watch = ResourceWatch()
    with watch.under_load(suite, "provision"):
        made = asyncio.run(_provision(suite.token_url, suite.admin, n, IN_FLIGHT, args.scaling_budget))
    print(f"    created {len(made.clients):,} of {n:,} in {made.seconds:,.0f} s ({made.rate:,.1f}/s)"
          + (f"; {sum(made.errors.values())} failed" if made.errors else "")
          + (f"; stopped: {made.stopped}" if made.stopped else ""), flush=True)
    row.provision_s, row.provision_rate = made.seconds, made.rate
    failed = "; ".join(f"{count} × {text}" for text, count in made.errors.most_common(3))
    provisioning = (f"{row.title}: provisioning: {len(made.clients):,} of {n:,} applications (access tokens JWT "
                    f"ES256, each with its default client, client_secret_basic) in {tenants} tenant(s) of up to "
                    f"{TENANT_SIZE:,}, through `POST /admin/tenants/{{tenant}}/applications` on the token service "
                    f"with {IN_FLIGHT} requests in flight: **{made.seconds:,.0f} s, {made.rate:,.1f} applications/s** "
                    "(each creation also has the keys service make the application's RS256 and ES256 keys). "
                    f"CPU meanwhile (share of one CPU): keys service {_cpu(watch, 'provision', 'keys service')}, "
                    f"token service {_cpu(watch, 'provision', 'token service')}, postgres "
                    f"{_cpu(watch, 'provision', 'postgres')}, nats {_cpu(watch, 'provision', 'nats')}"
                    + (f"; {sum(made.errors.values())} failed: {failed}" if made.errors else "")
                    + (f"; stopped early: {made.stopped}" if made.stopped else "") + ".")
    row.details = [provisioning]
    if made.errors:
        problems.append(f"{row.title}: {sum(made.errors.values())} application creation(s) failed: {failed}")
    if made.stopped:
        problems.append(f"{row.title}: provisioning stopped early ({made.stopped}) after {len(made.clients):,} "
                        f"of {n:,} applications, {made.rate:,.1f}/s")
    if not made.clients:
        row.note = "provisioning failed"
        return row
    waited = settle()
    with watch.under_load(suite, "warm"):
        warmed = asyncio.run(_warm(suite.token_url, made.clients, IN_FLIGHT))
    bad = {s: c for s, c in warmed.statuses.items() if s != "200"}
    print(f"    warm-up: one token of each application in {warmed.seconds:,.1f} s"
          + (f"; not 200: {bad}" if bad else ""), flush=True)
    if bad:
        problems.append(f"{row.title}: the warm-up pass (one token per application) answered {bad}")
    clients_file = work / "scale-clients.tsv"
    write_clients(clients_file, made.clients)
    bench = suite.clients["bench"]
    single = form_post(f"{suite.token_url}/bench/token", bench.client_id, bench.client_secret, CC_FORM)
    many = Target(suite.token_url, "POST", script="many.lua",
                  script_args=(str(clients_file), CC_FORM))
    sample = made.clients[len(made.clients) // 2]
    try:
        row.check = check("cc_jwt", form_post(f"{suite.token_url}/{sample.application}/token", sample.client_id,
                                              sample.client_secret, CC_FORM),
                          f"{suite.keys_url}/{sample.application}/jwks.json")
    except CheckFailed as exc:
        row.note = "check failed"
        problems.append(f"{row.title}: application {sample.application}'s token did not check: {exc}")
        return row
    full, full_warm = _loads(args)
    row.base, row.scaled = _interleaved(
        {"apps-1": [(single, full)], "apps-n": [(many, full)]},
        {"apps-1": [(single, full_warm)], "apps-n": [(many, full_warm)]}, args, suite, watch).values()
    rss_after = rss_bytes(suite.services["token"].pid)
    row.size, row.rss = len(made.clients), {"token service": rss_after}
    row.details += [
        f"{row.title}: then {waited:.0f} s for the server processes to go quiet, and a warm-up pass asking every "
        f"application for one token ({IN_FLIGHT} in flight, {warmed.seconds:,.1f} s, "
        f"{len(made.clients) / warmed.seconds:,.0f}/s; token service CPU {_cpu(watch, 'warm', 'token service')}, "
        f"keys service {_cpu(watch, 'warm', 'keys service')}): an application's first token makes the token "
        "service fetch its signing keys from the keys service, once, by design, and fills its registry cache. "
        "Not counted.",
        f"{row.title}: measured: application `bench` alone against {len(made.clients):,} applications, each request "
        "picking one (and its client id and secret) at random (bench/wrk/many.lua, reading the list the runner "
        f"writes), same wrk settings as the main rows; {args.scaling_rounds} round(s) × {args.duration:g} s "
        f"interleaved after {args.warmup:g} s warm-up of each, median quoted. Latency at that peak load: "
        f"{_p(row.base)} → {_p(row.scaled)}. CPU of all of Tessera {watch.busy(suite, 'apps-1'):.0%} → "
        f"{watch.busy(suite, 'apps-n'):.0%}; "
        f"µs of CPU per token: {_cpu_per_request(watch, suite, 'apps-1', row.base)} → "
        f"{_cpu_per_request(watch, suite, 'apps-n', row.scaled)}. "
        f"Token service RSS {rss_before / 2**20:.1f} MiB before the applications, {rss_after / 2**20:.1f} MiB after.",
    ]
    print(f"    1 application {row.base.throughput:>10,.0f} req/s, {len(made.clients):,} applications "
          f"{row.scaled.throughput:>10,.0f} req/s", flush=True)
    return row


def measure_scaling(suite: TesseraSuite, args: argparse.Namespace, work: Path,
                    problems: list[str], reference=None) -> list[ScalingRow]:
    """The scaling rows; each failure is a problem and a note in its row, not a crash.
    ``reference`` (the peer) is measured beside the users and refresh-token rows' cases."""
    print("scaling (Tessera only)", flush=True)
    titles = {"procs": SCALING[3], "apps": apps_title(args.scaling_apps, args.quick),
              "users": users_title(args), "tokens": tokens_title(args)}
    measures = {"procs": lambda: measure_processes(suite, args, problems),
                "users": lambda: measure_users(suite, args, problems, reference),
                "tokens": lambda: measure_refresh_tokens(suite, args, problems, reference),
                "apps": lambda: measure_applications(suite, args, work, problems)}
    rows: dict[str, ScalingRow] = {}
    for key, measure in measures.items():
        if key in args.skip_scaling_rows:
            rows[key] = ScalingRow(titles[key], ("", ""), note="not measured in this run (--skip-scaling-row)")
            continue
        if key in ("users", "tokens") and not suite.flows:
            rows[key] = ScalingRow(titles[key], ("", ""), note=f"not built yet: the code flow could not be set up "
                                                               f"({suite.code_flow_error})")
            continue
        try:
            rows[key] = measure()
        except (RuntimeError, OSError, KeyError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            problems.append(f"{titles[key]}: the measurement stopped: {type(exc).__name__}: {exc}")
            rows[key] = ScalingRow(titles[key], ("", ""), note="failed (see Problems seen)")
        dead = suite.dead()
        if dead:
            problems.append(f"Tessera service(s) died during the scaling rows: {', '.join(dead)}")
            break
    for key in ("apps", "users", "tokens", "procs"):
        rows.setdefault(key, ScalingRow(titles[key], ("", ""), note="not measured: the run stopped before")).key = key
    return [rows[key] for key in ("apps", "users", "tokens", "procs")]


# Users and refresh tokens --------------------------------------------------------------------------
def users_title(args: argparse.Namespace) -> str:
    title = f"{USERS:,} vs {args.scaling_users:,} users (full sign-in)"
    if args.scaling_users != USERS_FULL:
        title += f" (the full run asks for {USERS_FULL:,})"
    return title


def tokens_title(args: argparse.Namespace) -> str:
    title = f"1,000 vs {args.scaling_tokens:,} live refresh tokens (refresh with rotation)"
    if args.scaling_tokens != TOKENS_FULL:
        title += f" (the full run asks for {TOKENS_FULL:,})"
    return title


def _sequential(target: Target, args: argparse.Namespace, suite: TesseraSuite, watch: ResourceWatch,
                key: str, control: Target | None = None) -> tuple[Measurement, Measurement | None]:
    """``args.scaling_rounds`` rounds of Tessera's ``target``; with a ``control`` (the peer's same scenario,
    its data the same in both cases of a row), a round of it after each, not watched."""
    full, warm = _loads(args)
    if args.warmup > 0:
        for each in (target, control) if control else (target,):
            run_wrk(each, warm)
    out, beside = Measurement(), Measurement()
    for _round in range(args.scaling_rounds):
        prepared = settled(target, full, 15.0)
        with watch.under_load(suite, key):
            out.rounds.append(run_wrk(prepared, full))
        if control is not None:
            beside.rounds.append(run_wrk(settled(control, full, 15.0), full))
    return out, beside if control is not None else None


def _control(reference, scenario: str) -> Target | None:
    """The peer's target for ``scenario``, when it is up and has it."""
    if reference is None:
        return None
    target = reference.target(scenario)
    return None if isinstance(target, str) else target


USERS_TABLES = ["authn.users", "authn.events", "authn.outbox", "userinfo.users", "userinfo.inbox"]
TOKENS_TABLES = ["token.refresh_tokens", "token.events", "token.outbox"]


def quiesce(suite: TesseraSuite, args: argparse.Namespace, tables: list[str] | None, what: str,
            problems: list[str], title: str):
    """bench/quiesce.py's wait, printed; a problem when the time allowed ran out."""
    from .quiesce import quiesce_tessera
    print(f"    waiting for Tessera to digest {what}…", flush=True)
    done = quiesce_tessera(suite, tables, args.quiesce_budget)
    print(f"    quiet after {done.describe()}", flush=True)
    if not done.ok:
        problems.append(f"{title}: Tessera was not quiet after {what} within --quiesce-budget "
                        f"{args.quiesce_budget:.0f} s, so the measurement ran beside that work: {done.describe()}")
    return done


def measure_users(suite: TesseraSuite, args: argparse.Namespace, problems: list[str], reference=None) -> ScalingRow:
    import dataclasses
    n = args.scaling_users
    row = ScalingRow(users_title(args), (f"{USERS:,} users", f"{n:,} users"))
    print(f"  {row.title}", flush=True)
    flow = suite.flows["jwt"]
    watch = ResourceWatch()
    base_target = flow.target("login")
    before = quiesce(suite, args, USERS_TABLES, "the rows above", problems, row.title)
    control = _control(reference, "login")
    row.base, control_base = _sequential(base_target, args, suite, watch, "users-base", control)
    print(f"    {USERS:,} users: {row.base.throughput:,.1f} sign-ins/s; importing {n - USERS:,} more", flush=True)
    last = [time.monotonic()]

    def progress(done: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            print(f"      {USERS + done:,}/{n:,} users", flush=True)
    with watch.under_load(suite, "users-import"):
        imported, seconds = import_users_budgeted(suite, USERS, n, args.users_budget, progress)
    total = row.size = USERS + imported
    row.provision_s, row.provision_rate = seconds, imported / seconds if seconds else 0.0
    if total < n:
        row.cases = (row.cases[0], f"{total:,} users (of {n:,} asked)")
        problems.append(f"{row.title}: the import stopped at the time budget ({args.users_budget:.0f} s) with "
                        f"{total:,} of {n:,} users; the row measures {total:,}")
    with watch.under_load(suite, "users-digest"):
        after = quiesce(suite, args, USERS_TABLES, f"the {imported:,} users imported", problems, row.title)
    scaled_flow = dataclasses.replace(flow, users=range(total))
    scaled_flow.codes, scaled_flow.families = flow.codes, flow.families
    row.check = scaled_flow.check_login()
    row.scaled, control_scaled = _sequential(scaled_flow.target("login"), args, suite, watch, "users-scaled", control)
    row.control = (control_base, control_scaled) if control_base and control_scaled else None
    row.details = [
        f"{row.title}: importing {imported:,} users (tenant `bench`, 1,000 a call of `POST /admin/users/import` on "
        f"authn, 4 calls in flight, each user with the same precomputed argon2id `password_hash`, m=19456 KiB, t=2, "
        f"p=1, and five claims) took **{seconds:,.0f} s, {row.provision_rate:,.0f} users/s**"
        + (f" — stopped by the time budget (--users-budget {args.users_budget:.0f} s): **{total:,} users, not "
           f"{n:,}**" if total < n else "") + f". CPU meanwhile (share of one CPU): authn "
        f"{_cpu(watch, 'users-import', 'authn service')}, userinfo {_cpu(watch, 'users-import', 'userinfo service')} "
        f"(its read model of the claims), postgres {_cpu(watch, 'users-import', 'postgres')}, nats "
        f"{_cpu(watch, 'users-import', 'nats')}.",
        f"{row.title}: after the import, the measurement waits until Tessera has digested it (bench/quiesce.py): "
        "every durable JetStream consumer with nothing pending or unacknowledged (the userinfo service's "
        "`userinfo-authn-users` applies each `user.created` to its read model, about 600 a second here), every "
        f"outbox empty, `VACUUM (ANALYZE)` of {', '.join(USERS_TABLES)}, a `CHECKPOINT`, no autovacuum worker and all of Tessera "
        f"under 10% of one CPU for 2 s: **{after.describe()}**; CPU meanwhile: userinfo "
        f"{_cpu(watch, 'users-digest', 'userinfo service')}, postgres {_cpu(watch, 'users-digest', 'postgres')}, "
        f"nats {_cpu(watch, 'users-digest', 'nats')}. Measured during that work (as this row first was), the sign-in "
        "rate fell by a third to a half whatever users were picked (the 1,000 first ones as much as all of them): "
        "the consumer's work, not the number of users. The first case had the same wait before it "
        f"({before.describe()}).",
        f"{row.title}: measured: the full browserless sign-in of the main rows (bench/signin.py, its own generator: "
        f"{args.connections} browsers, each loop a new cookie jar and a user picked at random) with the store at "
        f"{USERS:,} users picking among them, then after the import picking among all {total:,}; the two cases one "
        f"after the other (the store cannot shrink back), {args.scaling_rounds} round(s) × {args.duration:g} s each "
        f"after {args.warmup:g} s warm-up, median quoted. Each sign-in verifies an argon2id hash (tens of ms of CPU), "
        "so a user look-up is a small part of it. CPU of all of Tessera "
        f"{watch.busy(suite, 'users-base'):.0%} → {watch.busy(suite, 'users-scaled'):.0%}.",
    ]
    print(f"    {total:,} users: {row.scaled.throughput:,.1f} sign-ins/s", flush=True)
    return row


def import_users_budgeted(suite: TesseraSuite, start: int, stop: int, budget_s: float, progress) -> tuple[int, float]:
    """Import users ``start`` … ``stop - 1`` in chunks of 50,000 until done or ``budget_s`` is spent."""
    from .provision import import_users
    done, seconds = 0, 0.0
    assert suite.admin is not None and suite.password_hash is not None
    for first in range(start, stop, 50_000):
        if seconds >= budget_s:
            break
        count, took = import_users(suite.authn_url, suite.token_url, suite.admin, first, min(stop, first + 50_000),
                                   suite.password_hash, progress=lambda d, base=done: progress(base + d))
        done, seconds = done + count, seconds + took
    return done, seconds


def refresh_token_counts(suite: TesseraSuite) -> tuple[int, int]:
    """(live, all) rows of token.refresh_tokens."""
    import asyncpg

    async def count() -> tuple[int, int]:
        conn = await asyncpg.connect(suite.database_url, timeout=10)
        try:
            row = await conn.fetchrow("SELECT count(*) FILTER (WHERE consumed_at IS NULL AND revoked_at IS NULL) AS live,"
                                      " count(*) AS total FROM token.refresh_tokens")
            return int(row["live"]), int(row["total"])
        finally:
            await conn.close()
    return asyncio.run(count())


def make_grants_budgeted(suite: TesseraSuite, count: int, budget_s: float, in_flight: int = 64) -> tuple[int, float]:
    """``count`` new grants (live refresh tokens) through the fast path, in chunks, within ``budget_s``."""
    from .signin import make_grants
    from .users import credentials
    flow = suite.flows["jwt"]
    made, seconds = 0, 0.0
    chunk = 5_000
    while made < count and seconds < budget_s:
        n = min(chunk, count - made)
        with affinity(flow.cpus):
            grants, took = asyncio.run(make_grants(flow.client, credentials(range(USERS)), n, in_flight))
        made, seconds = made + len(grants), seconds + took
        print(f"      {made:,}/{count:,} grants ({made / seconds:,.0f}/s)", flush=True)
    return made, seconds


@dataclass
class TokensBase:
    """The refresh-token row's first case, measured before the main rows (whose code redemptions
    leave thousands of live refresh tokens behind)."""
    measurement: Measurement
    live0: int
    total0: int
    live: int
    total: int
    made: int
    seconds: float
    busy: float
    waited: str = ""
    control: Measurement | None = None   # the peer's refresh rounds beside it


def measure_tokens_base(suite: TesseraSuite, args: argparse.Namespace, problems: list[str] | None = None,
                        reference=None) -> TokensBase:
    title = tokens_title(args)
    print(f"  {title}: the first case now, before the main rows leave live refresh tokens", flush=True)
    flow = suite.flows["jwt"]
    watch = ResourceWatch()
    live0, total0 = refresh_token_counts(suite)
    made, seconds = make_grants_budgeted(suite, max(0, 1_000 - live0), args.tokens_budget)
    waited = quiesce(suite, args, TOKENS_TABLES, f"{made:,} grants", problems if problems is not None else [], title)
    live, total = refresh_token_counts(suite)
    m, control = _sequential(flow.target("refresh"), args, suite, watch, "tokens-base", _control(reference, "refresh"))
    print(f"    {live:,} live: {m.throughput:,.0f} refreshes/s", flush=True)
    return TokensBase(m, live0, total0, live, total, made, seconds, watch.busy(suite, "tokens-base"), waited.describe(),
                      control)


def measure_refresh_tokens(suite: TesseraSuite, args: argparse.Namespace, problems: list[str],
                           reference=None) -> ScalingRow:
    from .refresh_fill import fill
    n = args.scaling_tokens
    row = ScalingRow(tokens_title(args), ("1,000 live", f"{n:,} live"))
    print(f"  {row.title}", flush=True)
    flow = suite.flows["jwt"]
    watch = ResourceWatch()
    base = suite.tokens_base or measure_tokens_base(suite, args, problems, reference)
    row.base = base.measurement
    row.cases = (f"{base.live:,} live ({base.total:,} rows)", row.cases[1])
    live2, total2 = refresh_token_counts(suite)
    wanted = max(0, n - live2)
    print(f"    now {live2:,} live ({total2:,} rows), all made through the code flow; inserting {wanted:,} synthetic "
          f"live refresh tokens directly into token.refresh_tokens (COPY)", flush=True)
    last = [time.monotonic()]

    def progress(done: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            print(f"      {done:,}/{wanted:,} inserted", flush=True)
    with watch.under_load(suite, "tokens-make"):
        inserted, seconds, facts = fill(suite.database_url, flow.client.client_id, wanted, progress)
    row.provision_s, row.provision_rate = seconds, inserted / seconds if seconds else 0.0
    print(f"    inserted {inserted:,} in {seconds:,.1f} s ({row.provision_rate:,.0f} rows/s)", flush=True)
    waited = quiesce(suite, args, TOKENS_TABLES, f"the {inserted:,} rows inserted", problems, row.title)
    live3, total3 = refresh_token_counts(suite)
    row.cases = (row.cases[0], f"{live3:,} live ({total3:,} rows)")
    if live3 < n:
        problems.append(f"{row.title}: {live3:,} live refresh tokens of {n:,} asked; the row measures {live3:,}")
    row.check = flow.check_refresh()
    control = _control(reference, "refresh") if base.control else None
    row.scaled, control_scaled = _sequential(flow.target("refresh"), args, suite, watch, "tokens-scaled", control)
    row.control = (base.control, control_scaled) if base.control and control_scaled else None
    when = ("before the main rows (their code redemptions leave a refresh token each)" if suite.tokens_base
            else "here")
    lifetime = facts.get("lifetime_s")
    row.details = [
        f"{row.title}: how the live refresh tokens were made. **Through the real code flow** (64 browsers each "
        "signed in once, then authorize → code → redeem again and again, about 64 grants/s here): the first case's "
        f"({base.made:,} grants in {base.seconds:,.0f} s, measured {when}, with {base.live0:,} already there), what "
        f"the rows above left ({live2:,} live, {total2:,} rows in all before the insert), and every family the wrk "
        "connections rotate in either case (bench/wrk/refresh.lua; a fresh grant per connection per run, made just "
        "before it and not counted). **Inserted directly** (no bulk API makes grants, and through the flow a million "
        f"would take over four hours): **{inserted:,} synthetic live refresh tokens in {seconds:,.1f} s "
        f"({row.provision_rate:,.0f} rows/s)**, `COPY` into `token.refresh_tokens` in chunks of 50,000 "
        "(bench/refresh_fill.py): each a family and grant of its own, a random 256-bit secret's HMAC-SHA-256 in hex "
        "as `token_hash` (the stored form of a real one; the secret is thrown away), ids like the service's, the "
        f"code-flow client, subjects among {facts.get('template_subjects', 0):,} benchmark users, the scopes and "
        "sign-in claims of a real row, issued within the last "
        + (f"{lifetime / 86400:,.0f} days (the refresh-token lifetime)" if lifetime else "refresh-token lifetime")
        + " so all are live; they have no `refresh_token.issued` events (the service looks refresh tokens up in the "
        "table only). CPU meanwhile (share of one CPU): postgres "
        f"{_cpu(watch, 'tokens-make', 'postgres')}. Then Tessera was let digest it (bench/quiesce.py: consumers and "
        f"outboxes empty, `VACUUM (ANALYZE)` of {', '.join(TOKENS_TABLES)}, a `CHECKPOINT`, CPU quiet): {waited.describe()}; the "
        f"first case had the same wait ({base.waited or 'not recorded'}).",
        f"{row.title}: measured: refresh with rotation as in the main rows (bench/wrk/refresh.lua, a fresh family "
        f"per connection per round), with {base.live:,} and then {live3:,} live refresh tokens in "
        "`token.refresh_tokens` (rotation leaves the consumed rows, counted as rows); one after the other (the store "
        f"only grows), {args.scaling_rounds} round(s) × {args.duration:g} s after {args.warmup:g} s warm-up, median "
        f"quoted. CPU of all of Tessera {base.busy:.0%} → {watch.busy(suite, 'tokens-scaled'):.0%}; "
        f"latency at that peak load: {_p(row.base)} → {_p(row.scaled)}.",
        f"{row.title}: a question of Tessera's storage only: the peer, which runs beside each case as the drift "
        "control, keeps the refresh tokens its own rows left in its Redis, not filled to the same number (a Redis "
        "key look-up by id does not depend on how many keys there are the way a table's index might).",
    ]
    print(f"    {live3:,} live: {row.scaled.throughput:,.0f} refreshes/s", flush=True)
    return row
