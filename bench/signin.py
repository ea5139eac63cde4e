"""A browserless sign-in, the same for the peer and Tessera: authorize → login page → password →
back to the authorization server → code → token, driven over HTTP like a browser would.

wrk cannot drive it (its Lua has no cookie jar and follows no redirect), so this is a Python
asyncio driver (aiohttp) on the load CPUs. It knows neither server's URLs beyond the authorize
URL: it follows each ``Location`` by hand (``allow_redirects=False``) until one points at the
client's redirect URI, and fills the first HTML form that has a ``password`` field (its hidden
inputs, such as ``csrf`` and ``request``, sent back as they came). Each sign-in has its own cookie
jar (a new browser: no SSO session) unless a jar is passed (the fast path that makes many codes
from one session: a browser already signed in, as a returning user).

Used for three things: the full sign-in row (a loop per concurrent "browser", timed), making
the codes the code-redemption row redeems, and the refresh-token families and access tokens of
the refresh and userinfo rows.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
INPUT = re.compile(r"<input\b([^>]*)>", re.S | re.I)
ATTR = re.compile(r"""([\w-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")
MAX_HOPS = 10


class SignInError(RuntimeError):
    """A step answered something a browser could not go on from; ``step`` names it (for counting)."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step


@dataclass(frozen=True)
class Client:
    """The relying party: where it sends the browser and how it redeems codes."""
    authorize_url: str          # the authorization endpoint
    token_url: str
    client_id: str
    basic: str                  # its Authorization header (client_secret_basic)
    redirect_uri: str
    scope: str = "openid profile email offline_access"
    extra: tuple[tuple[str, str], ...] = ()   # more authorization parameters (the peer: prompt=consent)
    # Tessera without its gateway: (("public", PUBLIC_URL), ("token", URL), ("authn", URL), …): a URL
    # under the public URL goes to the service that shared.routing names for its path, as the
    # gateway would send it (cookies are per host, not per port, so one jar serves them all)
    gateway: tuple[tuple[str, str], ...] = ()

    def resolve(self, url: str) -> str:
        if not self.gateway:
            return url
        services = dict(self.gateway)
        public = services["public"].rstrip("/")
        if not url.startswith(public + "/"):
            return url
        from shared.routing import service_for
        path = url[len(public):]
        return services.get(service_for(urllib.parse.urlsplit(path).path), public) + path


def pkce() -> tuple[str, str]:
    """RFC 7636 S256: (verifier, challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def parse_form(page: str) -> tuple[str, dict[str, str]] | None:
    """The first form with a password input: its action and its inputs (name → value)."""
    for attrs, body in FORM.findall(page):
        inputs: dict[str, str] = {}
        has_password = False
        for input_attrs in INPUT.findall(body):
            a = {k.lower(): html.unescape(v.strip("\"'")) for k, v in ATTR.findall(input_attrs)}
            if a.get("type", "").lower() == "password":
                has_password = True
            if "name" in a:
                inputs[a["name"]] = a.get("value", "")
        if has_password:
            form_attrs = {k.lower(): html.unescape(v.strip("\"'")) for k, v in ATTR.findall(attrs)}
            return form_attrs.get("action", ""), inputs
    return None


def code_from(location: str, redirect_uri: str, state: str) -> str:
    """The code in a redirect to the client; SignInError for an error or another state."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    if "error" in query:
        raise SignInError("authorize", f"{query['error']}: {query.get('error_description', '')}"[:200])
    if query.get("state") != state:
        raise SignInError("authorize", "state does not match")
    if "code" not in query:
        raise SignInError("authorize", f"no code in the redirect {location[:200]}")
    return query["code"]


@dataclass
class Issued:
    code: str
    verifier: str


async def authorize(session: aiohttp.ClientSession, client: Client, username: str, password: str,
                    jar: aiohttp.abc.AbstractCookieJar | None = None) -> Issued:
    """Sign in (or reuse the jar's session) and come back with a code and its PKCE verifier."""
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
              "scope": client.scope, "state": state, "nonce": secrets.token_urlsafe(16),
              "code_challenge": challenge, "code_challenge_method": "S256", **dict(client.extra)}
    url = f"{client.authorize_url}?{urllib.parse.urlencode(params)}"
    jar = jar if jar is not None else aiohttp.CookieJar(unsafe=True)
    method, data, step = "GET", None, "authorize"
    posted = False
    for _hop in range(MAX_HOPS):
        if url.startswith(client.redirect_uri):
            return Issued(code_from(url, client.redirect_uri, state), verifier)
        sent = client.resolve(url)
        async with session.request(method, sent, data=data, allow_redirects=False,
                                   cookies=jar.filter_cookies(sent)) as resp:
            jar.update_cookies(resp.cookies, resp.url)
            body = await resp.text()
            status = resp.status
            location = resp.headers.get("Location")
        if status in (301, 302, 303, 307) and location:
            url = urllib.parse.urljoin(url, location)
            method, data = "GET", None
            step = "after login" if posted else "redirect"
            continue
        if status == 200 and not posted:
            form = parse_form(body)
            if form is None:
                raise SignInError(step, "a page without a password form")
            action, inputs = form
            inputs.update({"username": username, "password": password})
            url, method, data, posted, step = urllib.parse.urljoin(url, action or url), "POST", inputs, True, "login"
            continue
        raise SignInError(step, f"HTTP {status} {body[:200]!r}")
    raise SignInError(step, f"more than {MAX_HOPS} hops")


async def redeem(session: aiohttp.ClientSession, client: Client, issued: Issued) -> dict:
    """The code at the token endpoint; the token response."""
    form = {"grant_type": "authorization_code", "code": issued.code, "redirect_uri": client.redirect_uri,
            "code_verifier": issued.verifier}
    async with session.post(client.token_url, data=form, headers={"Authorization": client.basic}) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200:
            raise SignInError("token", f"HTTP {resp.status} {str(body)[:200]}")
        return body


def session(connections: int, timeout_s: float = 60.0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s),
                                 connector=aiohttp.TCPConnector(limit=connections, force_close=False),
                                 cookie_jar=aiohttp.DummyCookieJar())


# The full sign-in row ------------------------------------------------------------------------------
@dataclass
class LoopResult:
    """What a timed run of sign-in loops did; shaped like a wrk result for the report."""
    completed: int = 0
    failed: Counter = field(default_factory=Counter)     # "step: reason" → count
    latencies_us: list[float] = field(default_factory=list)
    duration_s: float = 0.0


async def sign_in_loops(client: Client, users, connections: int, duration_s: float, *,
                        delay_ms: float = 0.0) -> LoopResult:
    """``connections`` browsers, each signing in again and again (a new cookie jar each time,
    a user picked at random) for ``duration_s``: authorize → login page → password → back →
    code → token. A sign-in takes long (the password hash), so the loops running at the end are
    let finish rather than thrown away, and the rate is the loops completed over the time from
    the start to the last completion; a failed loop is counted by the step that failed.
    ``delay_ms``: a think time (exponential, that mean) between loops, for the latency run."""
    import random
    result = LoopResult()
    async with session(connections) as http:
        started = time.monotonic()
        deadline = started + duration_s
        last = [started]

        async def browser() -> None:
            while time.monotonic() < deadline:
                username, password = users[random.randrange(len(users))]
                t0 = time.perf_counter()
                try:
                    issued = await authorize(http, client, username, password)
                    await redeem(http, client, issued)
                except SignInError as exc:
                    result.failed[f"{exc.step}: {str(exc).split(': ', 2)[-1][:80]}"] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    result.failed[f"socket: {type(exc).__name__}"] += 1
                else:
                    result.completed += 1
                    result.latencies_us.append((time.perf_counter() - t0) * 1e6)
                last[0] = time.monotonic()
                if delay_ms:
                    await asyncio.sleep(random.expovariate(1000.0 / delay_ms))
        await asyncio.gather(*(browser() for _ in range(connections)))
        result.duration_s = last[0] - started
    return result


# Making codes, families and access tokens before a timed run -------------------------------------
async def signed_in_jars(http: aiohttp.ClientSession, client: Client, users: list[tuple[str, str]]
                         ) -> list[aiohttp.CookieJar]:
    """One browser per user, signed in once (its first code is thrown away)."""
    jars = []

    async def one(user: tuple[str, str]) -> None:
        jar = aiohttp.CookieJar(unsafe=True)
        await authorize(http, client, *user, jar=jar)
        jars.append(jar)
    await asyncio.gather(*(one(u) for u in users))
    return jars


async def make_codes(client: Client, users: list[tuple[str, str]], count: int, in_flight: int = 32,
                     budget_s: float | None = None) -> tuple[list[Issued], float]:
    """``count`` codes through the fast path: ``in_flight`` browsers, each signed in once as one
    of ``users``, authorizing again and again on their SSO session (no password, no consent
    page); fewer when ``budget_s`` seconds ran out first. The codes, oldest first, and the
    seconds it took."""
    started = time.monotonic()
    deadline = started + budget_s if budget_s else float("inf")
    codes: list[Issued] = []
    async with session(in_flight) as http:
        jars = await signed_in_jars(http, client, [users[i % len(users)] for i in range(in_flight)])
        remaining = [count]

        async def browser(jar: aiohttp.CookieJar, user: tuple[str, str]) -> None:
            while remaining[0] > 0 and time.monotonic() < deadline:
                remaining[0] -= 1
                codes.append(await authorize(http, client, *user, jar=jar))
        await asyncio.gather(*(browser(jar, users[i % len(users)]) for i, jar in enumerate(jars)))
    return codes, time.monotonic() - started


async def make_grants(client: Client, users: list[tuple[str, str]], count: int, in_flight: int = 32
                      ) -> tuple[list[dict], float]:
    """``count`` token responses (each a new grant: its own refresh-token family), through the
    fast path of :func:`make_codes` and a redemption each; and the seconds it took."""
    started = time.monotonic()
    grants: list[dict] = []
    async with session(in_flight) as http:
        jars = await signed_in_jars(http, client, [users[i % len(users)] for i in range(in_flight)])
        remaining = [count]

        async def browser(jar: aiohttp.CookieJar, user: tuple[str, str]) -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                grants.append(await redeem(http, client, await authorize(http, client, *user, jar=jar)))
        await asyncio.gather(*(browser(jar, users[i % len(users)]) for i, jar in enumerate(jars)))
    return grants, time.monotonic() - started


# As a load generator of its own: python -m bench.signin ----------------------------------------
def summary(result: LoopResult) -> dict:
    """The JSON line bench/wrk/stats.lua prints, for a run of sign-in loops: a "request" is a
    whole sign-in, a 2xx is one that ended with a token response, the failures are counted
    under the step that failed."""
    lat = sorted(result.latencies_us)

    def pct(p: float) -> int:
        return int(lat[min(len(lat) - 1, int(p / 100 * len(lat)))]) if lat else 0
    failed = sum(result.failed.values())
    return {"bench": 1, "requests": result.completed + failed, "non2xx": failed,
            "statuses": {**({"200": result.completed} if result.completed else {}),
                         **{f"failed at {k}": v for k, v in result.failed.items()}},
            "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "duration_s": result.duration_s,
            "latency_us": {"p50": pct(50), "p90": pct(90), "p99": pct(99),
                           "mean": sum(lat) / len(lat) if lat else 0.0, "max": int(lat[-1]) if lat else 0},
            "counters": {}}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import os
    p = argparse.ArgumentParser(prog="python -m bench.signin", description="Timed browserless sign-in loops; "
                                "the client's Authorization header comes from $BENCH_BASIC.")
    p.add_argument("authorize_url")
    p.add_argument("token_url")
    p.add_argument("client_id")
    p.add_argument("redirect_uri")
    p.add_argument("--users", required=True, help="FIRST:STOP, the users picked from (bench/users.py names)")
    p.add_argument("-c", "--connections", type=int, default=32)
    p.add_argument("-d", "--duration", type=float, default=10.0)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--param", action="append", default=[], help="more authorization parameters, NAME=VALUE")
    p.add_argument("--route", action="append", default=[],
                   help="Tessera without a gateway: public=URL, then SERVICE=URL for each service (shared.routing)")
    args = p.parse_args(argv)
    from .users import credentials
    first, stop = (int(x) for x in args.users.split(":"))
    client = Client(args.authorize_url, args.token_url, args.client_id, os.environ["BENCH_BASIC"],
                    args.redirect_uri, extra=tuple(tuple(kv.split("=", 1)) for kv in args.param),
                    gateway=tuple(tuple(kv.split("=", 1)) for kv in args.route))
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(sign_in_loops(client, credentials(range(first, stop)), args.connections, args.duration,
                                       delay_ms=args.delay_ms))
    print(json.dumps(summary(result)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
