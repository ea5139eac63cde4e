"""Live refresh tokens for the refresh-token scaling row, inserted directly into Tessera's table.

Why directly: Tessera has no bulk API for grants, and a grant through the real code flow (an
SSO session authorizes, the code is redeemed) runs at about 64 a second on this machine, so
a million would take over four hours. The row measures refresh with rotation against a table
of N live refresh tokens; what the extra rows must be is rows the token service would have
written, not how they got there. So the first ones (the 1,000 of the first case, and every
family the wrk connections rotate, made fresh for each run) are made through the real code
flow, and the table is filled up to N with synthetic rows of the same shape, written with
``COPY`` into ``token.refresh_tokens`` (services/token/migrations/002_code_flow.sql), then
``VACUUM (ANALYZE)`` (bench/quiesce.py).

A synthetic row is one live token of a family of its own (as a code redemption makes): a
random 256-bit secret's HMAC-SHA-256 in hex (the same 64-hex-digit form as
``shared.crypto.secret_hash``; nobody knows the secret, so nobody can present it), token,
family and grant ids of 128 random bits URL-safe base64 like ``shared.crypto.new_id``, the
code-flow client and application of the real rows, a subject among the benchmark's users,
their scopes, sign-in facts (auth_time, amr ``pwd``, acr, a session id) and lifetimes taken
from a real row (issued within the last refresh-token lifetime, so expiring later: every one
live), and an access token id and expiry as issued with it. They have no ``refresh_token.issued``
events (the token service looks refresh tokens up by hash in the table only; the events are
its audit trail), which the report says.
"""
from __future__ import annotations

import asyncio
import base64
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

COLUMNS = ("token_hash", "token_id", "family_id", "grant_id", "tenant_id", "application_id", "client_id",
           "subject", "scopes", "claims", "issued_at", "expires_at", "consumed_at", "revoked_at", "access_jti",
           "access_exp", "access_hash")
CHUNK = 50_000


def random_id(nbytes: int = 16) -> str:
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode("ascii")


def synthetic_rows(template: dict[str, Any], subjects: list[str], count: int, now: datetime,
                   access_ttl_s: int = 3600) -> Iterator[tuple]:
    """``count`` rows shaped like ``template`` (a real row of the table, as a dict), each a live
    token of a family of its own, issued at a spread of times within the template's lifetime."""
    lifetime = template["expires_at"] - template["issued_at"]
    spread = max(1, int(lifetime.total_seconds() * 0.9))
    claims = dict(template["claims"]) if isinstance(template["claims"], dict) else {}
    for i in range(count):
        issued = now - timedelta(seconds=(i * 7919) % spread)   # spread over the last 90% of the lifetime
        row_claims = {**claims, "auth_time": int(issued.timestamp()), "sid": random_id()}
        yield (os.urandom(32).hex(), random_id(), random_id(), random_id(), template["tenant_id"],
               template["application_id"], template["client_id"], subjects[i % len(subjects)],
               list(template["scopes"]), row_claims, issued, issued + lifetime, None, None, random_id(),
               int(issued.timestamp()) + access_ttl_s, None)


async def _fill(database_url: str, client_id: str, count: int, progress=None) -> dict[str, Any]:
    import asyncpg
    import orjson
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        # binary: COPY sends binary rows (jsonb's binary form is a version byte, 1, then the text)
        await conn.set_type_codec("jsonb", encoder=lambda v: b"\x01" + orjson.dumps(v),
                                  decoder=lambda b: orjson.loads(b[1:]), schema="pg_catalog", format="binary")
        template = await conn.fetchrow(
            "SELECT * FROM token.refresh_tokens WHERE client_id = $1 AND consumed_at IS NULL AND revoked_at IS NULL"
            " ORDER BY issued_at DESC LIMIT 1", client_id)
        if template is None:
            raise RuntimeError("no live refresh token of the code-flow client to model the synthetic rows on")
        subjects = [r["subject"] for r in await conn.fetch(
            "SELECT DISTINCT subject FROM token.refresh_tokens WHERE client_id = $1", client_id)]
        try:   # every benchmark user, when authn's table is there (the same database)
            users = [r["id"] for r in await conn.fetch("SELECT id FROM authn.users WHERE tenant_id = $1 ORDER BY id"
                                                       " LIMIT 100000", template["tenant_id"])]
            subjects = users or subjects
        except asyncpg.PostgresError:
            pass
        tpl = dict(template)
        now = datetime.now(timezone.utc)
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            await conn.copy_records_to_table("refresh_tokens", schema_name="token", columns=COLUMNS,
                                             records=list(synthetic_rows(tpl, subjects, n, now)))
            done += n
            if progress:
                progress(done)
        return {"template_subjects": len(subjects), "lifetime_s": (tpl["expires_at"] - tpl["issued_at"]).total_seconds()}
    finally:
        await conn.close()


def fill(database_url: str, client_id: str, count: int, progress=None) -> tuple[int, float, dict[str, Any]]:
    """Insert ``count`` synthetic live refresh tokens; (count, seconds, facts about them)."""
    import asyncpg
    started = time.monotonic()
    try:
        facts = asyncio.run(_fill(database_url, client_id, count, progress)) if count > 0 else {}
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions._base.InternalClientError) as exc:
        raise RuntimeError(f"inserting the synthetic refresh tokens: {type(exc).__name__}: {exc}") from exc
    return count, time.monotonic() - started, facts
