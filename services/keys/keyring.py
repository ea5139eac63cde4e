"""Creating, rotating and revoking an application's signing keys (the write side).

Every change is an event on the key's stream ``signing_key:{kid}``; the ``signing_keys`` read
model follows in the same transaction (:mod:`services.keys.projections`). Each operation holds
a transaction-scoped Postgres advisory lock per application, so replicas and concurrent
requests take turns; the unique index ``signing_keys_one_current`` backs it up: never two
current keys of one algorithm.

The full lifecycle (ARCHITECTURE.md, "Tokens and keys") publishes a ``next`` key one JWKS
cache lifetime before it signs, on a schedule under a leader lock. That is a later issue: for
now :meth:`KeyRing.rotate` is the forced rotation (the new key signs at once, the old one is
retired and stays in the JWKS), and retired keys are not yet removed.
"""
from __future__ import annotations

import asyncio
import re
from typing import Sequence

import asyncpg

from shared.events import EventStore
from shared.logging import get_logger

from . import events, vault
from .crypto import SigningKey, generate

log = get_logger("tessera.keys")

SIGNING_ALGS: tuple[str, ...] = ("RS256", "ES256")  # ADR 0002; "EdDSA" is supported by crypto.py
# Tenant and application ids (ADR 0002, "Identifiers"); use fullmatch ("$" lets a "\n" through).
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


class UnknownApplication(Exception):
    """The application has no keys to act on."""


class ApplicationDeleted(Exception):
    """The token service deleted the application; its keys are revoked for good."""


class TenantMismatch(Exception):
    """The application is known under another tenant."""


async def _lock(conn: asyncpg.Connection, application_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"tessera-keys:{application_id}")


async def _current_algs(conn, application_id: str) -> set[str]:
    rows = await conn.fetch("SELECT alg FROM signing_keys WHERE application_id = $1 AND status = 'current'",
                            application_id)
    return {r["alg"] for r in rows}


async def _check_application(conn, application_id: str, tenant_id: str) -> None:
    app = await conn.fetchrow("SELECT tenant_id, status FROM applications WHERE application_id = $1",
                              application_id)
    if app is not None and app["status"] == "deleted":
        raise ApplicationDeleted(application_id)
    known = {app["tenant_id"]} if app is not None else set()
    known |= {r["tenant_id"] for r in await conn.fetch(
        "SELECT DISTINCT tenant_id FROM signing_keys WHERE application_id = $1 AND status <> 'revoked'",
        application_id)}
    if known - {tenant_id}:
        raise TenantMismatch(application_id)


class KeyRing:
    def __init__(self, store: EventStore, kek: bytes, algs: Sequence[str] = SIGNING_ALGS) -> None:
        self.store = store
        self.kek = kek
        self.algs = tuple(algs)

    async def ensure(self, application_id: str, tenant_id: str, *,
                     conn: asyncpg.Connection | None = None) -> list[str]:
        """Give the application a current key of every algorithm it lacks. Returns new kids.

        Idempotent; a brand-new application's keys are created ``current`` at once (nothing to
        roll over). Raises :class:`ApplicationDeleted` or :class:`TenantMismatch`.
        """
        if conn is None:
            async with self.store.pool.acquire() as conn:
                if await _current_algs(conn, application_id) >= set(self.algs):
                    await _check_application(conn, application_id, tenant_id)
                    return []                      # the usual case: no lock, no transaction
                async with conn.transaction():
                    return await self.ensure(application_id, tenant_id, conn=conn)
        await _lock(conn, application_id)
        await _check_application(conn, application_id, tenant_id)
        present = await _current_algs(conn, application_id)
        kids = []
        for alg in (alg for alg in self.algs if alg not in present):
            key = await asyncio.to_thread(generate, alg)
            await self._create(conn, key, application_id, tenant_id, "current")
            kids.append(key.kid)
        return kids

    async def rotate(self, application_id: str) -> list[str]:
        """Forced rotation: per algorithm a new current key; the previous one is retired.

        Events per algorithm: ``created`` (status next) for the new key, ``retired`` for the old
        one, ``activated`` for the new one. Returns the new kids. Raises
        :class:`UnknownApplication` or :class:`ApplicationDeleted`.
        """
        fresh = await asyncio.gather(*(asyncio.to_thread(generate, alg) for alg in self.algs))
        async with self.store.pool.acquire() as conn, conn.transaction():
            await _lock(conn, application_id)
            rows = await conn.fetch("SELECT kid, alg, tenant_id, status, version FROM signing_keys"
                                    " WHERE application_id = $1 AND status <> 'revoked'", application_id)
            if not rows:
                raise UnknownApplication(application_id)
            tenant_id = rows[0]["tenant_id"]
            await _check_application(conn, application_id, tenant_id)
            current = {r["alg"]: r for r in rows if r["status"] == "current"}
            for key in fresh:
                old = current.get(key.alg)
                if old is None:
                    await self._create(conn, key, application_id, tenant_id, "current")
                    continue
                await self._create(conn, key, application_id, tenant_id, "next")
                await self.store.append(events.stream(old["kid"]), old["version"], [events.retired(
                    old["kid"], key.alg, application_id, tenant_id, replaced_by=key.kid)], conn=conn)
                await self.store.append(events.stream(key.kid), 1, [events.activated(
                    key.kid, key.alg, application_id, tenant_id)], conn=conn)
        log.info("keys.rotated", application=application_id, kids=[k.kid for k in fresh])
        return [k.kid for k in fresh]

    async def revoke_all(self, conn: asyncpg.Connection, application_id: str, reason: str) -> list[str]:
        """Revoke every key of the application still published (inside the caller's transaction)."""
        await _lock(conn, application_id)
        rows = await conn.fetch("SELECT kid, alg, tenant_id, version FROM signing_keys"
                                " WHERE application_id = $1 AND status <> 'revoked'", application_id)
        for row in rows:
            await self.store.append(events.stream(row["kid"]), row["version"], [events.revoked(
                row["kid"], row["alg"], application_id, row["tenant_id"], reason)], conn=conn)
        if rows:
            log.info("keys.revoked", application=application_id, reason=reason,
                     kids=[r["kid"] for r in rows])
        return [r["kid"] for r in rows]

    async def _create(self, conn, key: SigningKey, application_id: str, tenant_id: str, status: str) -> None:
        async with conn.transaction():
            await vault.put(conn, self.kek, key)
            await self.store.append(events.stream(key.kid), 0,
                                    [events.created(key, application_id, tenant_id, status)], conn=conn)
        log.info("keys.created", application=application_id, kid=key.kid, alg=key.alg, status=status)
