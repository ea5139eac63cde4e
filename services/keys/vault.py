"""The ``key_material`` vault: private keys sealed under the KEK, never in the clear.

Rows are written by :func:`put` inside the caller's transaction, the one that appends the
key's ``signing_key.created`` event. Nothing here logs or returns key material except
:func:`private_jwks`, whose callers hand it to the token service only.
"""
from __future__ import annotations

from typing import Sequence

import asyncpg

from .crypto import Jwk, KeyDecryptionError, Sealed, SigningKey, seal, unseal


async def put(conn: asyncpg.Connection, kek: bytes, key: SigningKey) -> None:
    sealed = seal(kek, key)
    await conn.execute("INSERT INTO key_material (kid, nonce, ciphertext) VALUES ($1, $2, $3)",
                       key.kid, sealed.nonce, sealed.ciphertext)


async def private_jwks(conn: asyncpg.Connection | asyncpg.Pool, kek: bytes,
                       kids: Sequence[str]) -> dict[str, Jwk]:
    """The private JWKs of ``kids`` (those that have key material), by kid."""
    rows = await conn.fetch("SELECT kid, nonce, ciphertext FROM key_material WHERE kid = ANY($1::text[])",
                            list(kids))
    return {r["kid"]: unseal(kek, r["kid"], Sealed(r["nonce"], r["ciphertext"])) for r in rows}


async def undecryptable_kid(pool: asyncpg.Pool, kek: bytes) -> str | None:
    """The kid of a stored key that ``kek`` does not open, or None when it opens them.

    Every row is sealed under the same KEK, so the newest and the oldest rows stand for all
    of them; checking two rows keeps the start-up check constant-time in the vault's size.
    """
    rows = await pool.fetch(
        "(SELECT kid, nonce, ciphertext FROM key_material ORDER BY created_at DESC, kid LIMIT 1)"
        " UNION "
        "(SELECT kid, nonce, ciphertext FROM key_material ORDER BY created_at, kid LIMIT 1)")
    for row in rows:
        try:
            unseal(kek, row["kid"], Sealed(row["nonce"], row["ciphertext"]))
        except KeyDecryptionError:
            return row["kid"]
    return None
