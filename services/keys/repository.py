"""Reads of the ``signing_keys`` read model, and the private keys the token service fetches."""
from __future__ import annotations

from typing import Any

import asyncpg

from . import vault

PUBLISHED = ("next", "current", "retired")  # what a JWKS holds (ADR 0002)


async def public_jwks(pool: asyncpg.Pool, application_id: str) -> list[dict[str, Any]]:
    """The public JWKs a relying party may meet: next, current and retired keys."""
    rows = await pool.fetch("SELECT public_jwk FROM signing_keys WHERE application_id = $1"
                            " AND status = ANY($2::text[]) ORDER BY created_at, kid",
                            application_id, list(PUBLISHED))
    return [r["public_jwk"] for r in rows]


async def listing(pool: asyncpg.Pool, application_id: str) -> list[dict[str, Any]]:
    """Every key of the application, revoked ones too, without any key material."""
    rows = await pool.fetch("SELECT kid, alg, status, created_at, activated_at, retired_at, revoked_at"
                            " FROM signing_keys WHERE application_id = $1 ORDER BY created_at, kid",
                            application_id)
    return [dict(r) for r in rows]


async def current_private_keys(pool: asyncpg.Pool, kek: bytes, application_id: str) -> list[dict[str, Any]]:
    """``[{kid, alg, status, private_jwk}]`` of the application's current keys (internal API)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT kid, alg, status FROM signing_keys WHERE application_id = $1"
                                " AND status = 'current' ORDER BY alg", application_id)
        private = await vault.private_jwks(conn, kek, [r["kid"] for r in rows])
    return [{"kid": r["kid"], "alg": r["alg"], "status": r["status"], "private_jwk": private[r["kid"]]}
            for r in rows if r["kid"] in private]
