"""What the code-flow rows use up, made before each run the same way for the peer and Tessera.

* Codes (authorization-code redemption): codes live at most a minute (Tessera: 60 s, RFC 9700;
  the peer set the same), so every run gets fresh ones, made just before it through the fast
  path of bench/signin.py (32 browsers, each signed in once as one of the first users, then
  authorizing again and again on its SSO session: no password, no consent page), written to a
  file that bench/wrk/code.lua reads, each code redeemed once. How many: the best rate seen so
  far (a first guess of 600/s before any) × the run's seconds × 2, at least 500; a round that
  ran out anyway (the script counts "exhausted" requests) is run again with twice as many
  (bench/run.py), and the report says how often. Making stops at a time budget (the codes'
  60 s less the wait for quiet, the run and a margin) so that no code has expired when wrk
  redeems it: on a machine that makes codes slower than it redeems them, a round runs out of
  codes (counted apart) rather than redeeming expired ones. The report gives, per system, how
  many were made, how fast, and the oldest code's age at the end of a run.
* Refresh-token families (refresh with rotation): each run gets one new grant per wrk
  connection (and two spare per wrk thread), made the same way and redeemed;
  bench/wrk/refresh.lua rotates them.
* Access tokens (userinfo): 64 grants of 64 users, made once; bench/wrk/bearer.lua sends them
  round robin.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import signin
from .load import Load, WrkResult
from .procs import affinity
from .users import credentials

SESSIONS = 32                 # browsers signed in once, making codes on their SSO session
FIRST_GUESS = 600.0           # codes per second before any run was seen
MARGIN = 2.0
CODE_TTL_S = 60.0             # how long a code lives, on both sides
SETTLE_MAX_S = 10.0           # the longest wait for quiet between making and the run (bench/run.py)
SAFETY_S = 5.0
USERINFO_TOKENS = 64


@dataclass
class Made:
    """How long making things took, for the report."""
    what: str
    count: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


@dataclass
class CodeSupply:
    """``prepare`` and ``observe`` of a code-redemption target (bench/load.Target)."""
    client: signin.Client
    folder: Path
    cpus: str                                       # where the driver runs (the load CPUs)
    threads: int = 1
    best_rate: float = 0.0
    made: Made = field(default_factory=lambda: Made("codes"))
    short_runs: int = 0                             # runs whose making hit the time budget
    oldest_s: float = 0.0                           # the oldest code's age when a run ended
    _runs: int = 0
    _paced: bool | None = None
    _short: bool = False
    _making_started: float = 0.0

    boost: float = 1.0

    def wanted(self, load: Load) -> int:
        rate = (self.best_rate * MARGIN if self.best_rate else FIRST_GUESS) * self.boost
        if load.delay_ms:
            rate = min(rate, load.connections * 1000 / load.delay_ms * MARGIN)
        return max(500, math.ceil(rate * load.duration_s))

    @staticmethod
    def budget_s(load: Load) -> float:
        """How long making may take: every code must still be live at the end of the run."""
        return max(5.0, CODE_TTL_S - SETTLE_MAX_S - load.duration_s - SAFETY_S)

    def prepare(self, load: Load) -> tuple[str, ...]:
        n = self.wanted(load)
        self._paced = bool(load.delay_ms)
        self._making_started = time.monotonic()
        with affinity(self.cpus):
            codes, seconds = asyncio.run(signin.make_codes(self.client, credentials(range(SESSIONS)), n, SESSIONS,
                                                           budget_s=self.budget_s(load)))
        self._short = len(codes) < n
        self.short_runs += self._short
        self.made.count += len(codes)
        self.made.seconds += seconds
        self._runs += 1
        path = self.folder / f"codes-{self.client.client_id}-{self._runs}.tsv"
        path.write_text("".join(f"{c.code}\t{c.verifier}\n" for c in codes))
        return (str(path), self.client.basic, self.client.redirect_uri, str(self.threads))

    def observe(self, result: WrkResult) -> None:
        self.oldest_s = max(self.oldest_s, time.monotonic() - self._making_started)
        if result.counters.get("exhausted"):
            if not self._short:          # more would not have been made in time
                self.boost *= 2
            return
        if self._paced is False:
            self.best_rate = max(self.best_rate, result.ok_per_s)

    def describe(self) -> str:
        """What making the codes took, for the report."""
        text = (f"{self.made.count:,} codes made for {self._runs} run(s) in {self.made.seconds:.0f} s "
                f"({self.made.rate:,.0f}/s); the oldest was {self.oldest_s:.0f} s old when its run ended "
                f"(codes live {CODE_TTL_S:.0f} s)")
        if self.short_runs:
            text += (f"; {self.short_runs} run(s) got fewer codes than wanted: making stopped at its time budget "
                     "so that none expired")
        return text

    def shown(self) -> tuple[str, ...]:
        return ("<file of fresh codes and PKCE verifiers>", f"Basic <base64 {self.client.client_id}:secret>",
                self.client.redirect_uri, str(self.threads))


@dataclass
class FamilySupply:
    """``prepare`` of a refresh target: one fresh refresh-token family per connection per run."""
    client: signin.Client
    folder: Path
    cpus: str
    threads: int = 1
    made: Made = field(default_factory=lambda: Made("refresh-token families"))
    _runs: int = 0

    def prepare(self, load: Load) -> tuple[str, ...]:
        # one family per connection, and two spare per wrk thread (bench/wrk/refresh.lua says why)
        families = load.connections + 2 * self.threads
        with affinity(self.cpus):
            grants, seconds = asyncio.run(signin.make_grants(self.client, credentials(range(SESSIONS)),
                                                             families, min(SESSIONS, families)))
        self.made.count += len(grants)
        self.made.seconds += seconds
        self._runs += 1
        path = self.folder / f"families-{self.client.client_id}-{self._runs}.txt"
        path.write_text("".join(f"{g['refresh_token']}\n" for g in grants))
        return (str(path), self.client.basic, str(self.threads))

    def shown(self) -> tuple[str, ...]:
        return ("<file of fresh refresh tokens, one family each>", f"Basic <base64 {self.client.client_id}:secret>",
                str(self.threads))


def userinfo_tokens(client: signin.Client, folder: Path, cpus: str, n: int = USERINFO_TOKENS) -> Path:
    """``n`` access tokens of ``n`` users from the code flow, one a line."""
    with affinity(cpus):
        grants, _seconds = asyncio.run(signin.make_grants(client, credentials(range(n)), n, n))
    path = folder / f"userinfo-{client.client_id}.txt"
    path.write_text("".join(f"{g['access_token']}\n" for g in grants))
    return path


def timed(fn, *args):
    started = time.monotonic()
    out = fn(*args)
    return out, time.monotonic() - started


# The four targets of a system ----------------------------------------------------------------------
@dataclass
class Flow:
    """One system's code-flow client and endpoints, and where its made things go."""
    client: signin.Client
    userinfo_url: str
    jwks_url: str
    folder: Path
    cpus: str                     # the load CPUs: the driver and the makers run there
    threads: int = 1
    users: range = range(1_000)   # the users the sign-in row picks from
    codes: CodeSupply | None = None
    families: FamilySupply | None = None
    _userinfo: Path | None = None
    reuses: int = 0               # refresh tokens the checks presented twice on purpose (each one logged)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.codes = CodeSupply(self.client, self.folder, self.cpus, self.threads)
        self.families = FamilySupply(self.client, self.folder, self.cpus, self.threads)

    def target(self, scenario: str):
        from .load import Target
        c = self.client
        if scenario == "code":
            return Target(c.token_url, "POST", script="code.lua", prepare=self.codes.prepare, observe=self.codes.observe,
                          describe=self.codes.describe, shown_args=self.codes.shown(), checker=self.check_code)
        if scenario == "refresh":
            return Target(c.token_url, "POST", script="refresh.lua", prepare=self.families.prepare,
                          shown_args=self.families.shown(), checker=self.check_refresh)
        if scenario == "userinfo":
            if self._userinfo is None:
                self._userinfo = userinfo_tokens(c, self.folder, self.cpus)
            return Target(self.userinfo_url, script="bearer.lua", script_args=(str(self._userinfo),),
                          shown_args=(f"<file of {USERINFO_TOKENS} access tokens of {USERINFO_TOKENS} users>",),
                          checker=self.check_userinfo)
        if scenario == "login":
            return Target(c.authorize_url, generator=self.login_argv, env={"BENCH_BASIC": c.basic},
                          checker=self.check_login)
        raise KeyError(scenario)

    def login_argv(self, load: Load, shown: bool) -> list[str]:
        import sys
        python = "python" if shown else sys.executable
        delay = ["--delay-ms", str(load.delay_ms)] if load.delay_ms else []
        params = [f"--param={k}={v}" for k, v in self.client.extra] + [
            f"--route={k}={v}" for k, v in self.client.gateway]
        return ["taskset", "-c", load.cpus, python, "-m", "bench.signin", self.client.authorize_url,
                self.client.token_url, self.client.client_id, self.client.redirect_uri,
                f"--users={self.users.start}:{self.users.stop}", f"-c{load.connections}", f"-d{load.duration_s:g}",
                *delay, *params]

    # checks before the load (one of each, like the load's) ------------------------------------------
    def _run(self, coro):
        with affinity(self.cpus):
            return asyncio.run(coro)

    def check_code(self) -> str:
        from .check import check_token_response
        async def one():
            async with signin.session(2) as http:
                issued = await signin.authorize(http, self.client, *credentials(range(1))[0])
                return await signin.redeem(http, self.client, issued)
        return check_token_response(self._guard(one), self.jwks_url, refresh=True, id_token=True)

    def check_refresh(self) -> str:
        from .check import CheckFailed, check_token_response
        async def one():
            async with signin.session(2) as http:
                first = await signin.redeem(http, self.client,
                                            await signin.authorize(http, self.client, *credentials(range(1))[0]))
                answers = []
                for token in (first["refresh_token"], first["refresh_token"]):
                    async with http.post(self.client.token_url, data={"grant_type": "refresh_token",
                                                                        "refresh_token": token},
                                         headers={"Authorization": self.client.basic}) as resp:
                        answers.append((resp.status, await resp.json(content_type=None)))
                return first, answers
        first, ((status, body), (again, reused)) = self._guard(one)
        self.reuses += 1
        if status != 200:
            raise CheckFailed(f"refresh: HTTP {status} {str(body)[:300]}")
        if body.get("refresh_token") in (None, first["refresh_token"]):
            raise CheckFailed("the refresh token was not rotated")
        if again == 200:
            raise CheckFailed("the old refresh token was accepted a second time")
        return (check_token_response(body, self.jwks_url, refresh=True, id_token=False)
                + f"; rotated; the old refresh token again: HTTP {again} {reused.get('error')} (this check's own "
                "reuse: it revokes the check's family; Tessera logs token.refresh_token_reused for it, left out of "
                "Problems seen)")

    def check_userinfo(self) -> str:
        from .check import CheckFailed
        from .oauth_client import call
        token = (self._userinfo.read_text().split() if self._userinfo else [""])[0]
        status, body = call("GET", self.userinfo_url, headers={"Authorization": f"Bearer {token}"})
        if status != 200 or "sub" not in body:
            raise CheckFailed(f"userinfo: HTTP {status} {str(body)[:300]}")
        kind = "JWT" if token.count(".") == 2 else "opaque"
        return f"{kind} access token of {len(token)} chars; claims: {', '.join(body)}"

    def check_login(self) -> str:
        from .check import check_token_response
        async def one():
            async with signin.session(2) as http:
                return await signin.redeem(http, self.client, await signin.authorize(
                    http, self.client, *credentials(range(self.users.stop - 1, self.users.stop))[0]))
        return "a new browser signed in; " + check_token_response(self._guard(one), self.jwks_url, refresh=True,
                                                                  id_token=True)

    def _guard(self, fn):
        from .check import CheckFailed
        try:
            return self._run(fn())
        except signin.SignInError as exc:
            raise CheckFailed(str(exc)) from None
