"""The benchmark's rows: every scenario of /work/shared/BENCHMARKS.md, measured or said not to be."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    short: str
    measured: bool = True     # False: Tessera has no such endpoint yet; the row says so


SCENARIOS = (
    Scenario("cc_jwt", "client credentials, ES256 JWT access token", "CC JWT"),
    Scenario("cc_opaque", "client credentials, opaque access token", "CC opaque"),
    Scenario("introspect", "introspection (RFC 7662) of an opaque token", "introspection"),
    Scenario("jwks", "JWKS", "JWKS"),
    Scenario("code", "authorization code redemption (PKCE, ID token RS256, refresh token)", "code"),
    Scenario("refresh", "refresh with rotation", "refresh"),
    Scenario("userinfo", "userinfo", "userinfo"),
    Scenario("login", "full browserless sign-in (authorize → password → code → token; its own generator, see Method)",
             "sign-in"),
)

SCALING = (
    "1 vs 10,000 applications",
    "1,000 vs 1,000,000 users (full sign-in)",
    "1,000 vs 1,000,000 live refresh tokens (refresh with rotation)",
    "1 vs 2 token-service processes",
)
USERS_FULL = 1_000_000
TOKENS_FULL = 1_000_000


def select(keys: list[str] | None) -> tuple[Scenario, ...]:
    if not keys:
        return SCENARIOS
    known = {s.key for s in SCENARIOS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"bench: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return tuple(s for s in SCENARIOS if s.key in keys)
