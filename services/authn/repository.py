"""Users and consents: reads of the read models, and the commands that change them.

A command loads its aggregate's stream, folds it, lets the pure domain decide
(:mod:`services.authn.domain`) and appends the events with optimistic concurrency; when the
stream moved meanwhile it reloads and tries once more, then answers ``conflict``. Username and
email are unique per tenant (case-insensitive): the read model's unique indexes, written in the
append transaction, make a taken one fail the whole append.

A user belongs to a tenant the token service announced (``tenants``, kept by
:mod:`services.authn.consumers`); an unknown tenant is ``not_found``, a deleted one ``gone``.
The announcement is asynchronous, so a tenant not yet known is waited for (up to
:data:`TENANT_CATCH_UP` seconds) before ``not_found``: a script that creates a tenant and at
once its first user reads its own write.
A bulk import writes up to 1,000 users in one transaction: one multi-row statement for the
events, one for the outbox, one for the ``users`` rows.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping, Sequence

import asyncpg

from shared import sealing
from shared.crypto import new_id
from shared.events import ConcurrencyError, Event, EventStore, NewEvent
from shared.logging import get_logger

from . import events as ev
from .domain import CONFLICT, GONE, INVALID_REQUEST, NOT_FOUND, DomainError
from .domain import consent as consent_domain
from .domain import user as user_domain
from .domain.claims import CLAIMS
from .domain.user import UserState
from .passwords import Passwords, check_phc, check_policy
from .projections import COLUMN_CLAIMS, INSERT_USERS, user_rows

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_IMPORT = 1000
# How long an import waits for the fast path to publish what earlier imports queued before it
# writes anyway (and the sweep publishes what does not fit).
IMPORT_PUBLISH_WAIT_S = 30.0
MAX_ID = 255
# How long a command waits for a tenant authn has not heard of: the token service's event
# normally arrives within milliseconds; a loaded machine can take a few hundred.
TENANT_CATCH_UP = 2.0
_TENANT_POLL = 0.02

_TENANT_STATUS = "SELECT status FROM tenants WHERE id = $1"
_UNIQUE = {"users_username_key": "username", "users_email_key": "email"}

log = get_logger("tessera.authn.repository")


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next: str | None


@dataclass(frozen=True, slots=True)
class SignInCandidate:
    """What the login page needs of an account: never shown, never logged."""
    id: str
    tenant_id: str
    status: str
    phc: str | None


def plausible_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and "\x00" not in value


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def user_json(row: asyncpg.Record) -> dict[str, Any]:
    """The admin representation of a user: claims at the top level, never the password hash."""
    claims = row["claims"]
    out: dict[str, Any] = {"id": row["id"], "tenant_id": row["tenant_id"], "username": row["username"],
                           "status": row["status"]}
    for name in CLAIMS:
        out[name] = row[name] if name in COLUMN_CLAIMS else claims.get(name)
    out.update({"updated_at": row["claims_updated_at"], "has_password": row["password_nonce"] is not None,
                "created_at": _iso(row["created_at"]), "last_sign_in_at": _iso(row["last_sign_in_at"]),
                "version": row["version"]})
    return out


def _page_args(limit: Any, after: Any) -> tuple[int, str]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise DomainError(INVALID_REQUEST, f"limit must be an integer between 1 and {MAX_PAGE}")
    if after is not None and not plausible_id(after):
        raise DomainError(INVALID_REQUEST, "after must be the cursor of a previous page")
    return limit, after or ""


def _unique_violation(exc: asyncpg.UniqueViolationError, tenant_id: str) -> DomainError:
    what = _UNIQUE.get(exc.constraint_name or "")
    if what is None:
        raise exc
    return DomainError(CONFLICT, f"this {what} is already taken in tenant {tenant_id!r}")


class Users:
    def __init__(self, pool: asyncpg.Pool, store: EventStore, passwords: Passwords) -> None:
        self.pool = pool
        self.store = store
        self.passwords = passwords

    # Tenants ------------------------------------------------------------------------------------
    async def require_tenant(self, tenant_id: Any, conn: asyncpg.Connection | None = None) -> str:
        if not plausible_id(tenant_id):
            raise DomainError(INVALID_REQUEST, "tenant_id is required: the id of a tenant")
        status = await (conn or self.pool).fetchval(_TENANT_STATUS, tenant_id)
        if status is None and conn is None:
            status = await self._await_tenant(tenant_id)
        if status is None:
            raise DomainError(NOT_FOUND, f"tenant {tenant_id!r} is unknown to authn (not created, or its "
                                         "tenant.created event has not arrived yet)")
        if status == "deleted":
            raise DomainError(GONE, f"tenant {tenant_id!r} was deleted")
        return tenant_id

    async def _await_tenant(self, tenant_id: str) -> str | None:
        """The tenant's status once its ``tenant.created`` event is applied; None after the wait."""
        deadline = time.monotonic() + TENANT_CATCH_UP
        while time.monotonic() < deadline:
            await asyncio.sleep(_TENANT_POLL)
            status = await self.tenant_status(tenant_id)
            if status is not None:
                return status
        return None

    async def tenant_status(self, tenant_id: str) -> str | None:
        return await self.pool.fetchval(_TENANT_STATUS, tenant_id)

    # Reads --------------------------------------------------------------------------------------
    async def row(self, user_id: Any, tenant_id: str | None = None) -> asyncpg.Record | None:
        """The user's row (deleted ones too); None when unknown or of another tenant."""
        if not plausible_id(user_id):
            return None
        row = await self.pool.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        if row is None or (tenant_id is not None and row["tenant_id"] != tenant_id):
            return None
        return row

    async def get(self, user_id: Any, tenant_id: str | None = None) -> dict[str, Any]:
        row = await self.row(user_id, tenant_id)
        if row is None or row["status"] == "deleted":
            raise DomainError(NOT_FOUND, "user not found")
        return user_json(row)

    async def list(self, tenant_id: Any, *, limit: int = DEFAULT_PAGE, after: str | None = None) -> Page:
        limit, after = _page_args(limit, after)
        await self.require_tenant(tenant_id)
        rows = await self.pool.fetch("SELECT * FROM users WHERE tenant_id = $1 AND status <> 'deleted' AND id > $2"
                                     " ORDER BY id LIMIT $3", tenant_id, after, limit + 1)
        items = [user_json(r) for r in rows[:limit]]
        return Page(items, items[-1]["id"] if len(rows) > limit else None)

    async def candidate(self, tenant_id: str, account: str) -> SignInCandidate | None:
        """The user a login form names by username or email (username first), any status but deleted."""
        if not plausible_id(account):
            return None
        rows = await self.pool.fetch(
            "SELECT id, tenant_id, status, password_nonce, password_ciphertext, lower(username) = lower($2) AS by_name"
            " FROM users WHERE tenant_id = $1 AND status <> 'deleted'"
            " AND (lower(username) = lower($2) OR lower(email) = lower($2)) ORDER BY by_name DESC LIMIT 1",
            tenant_id, account)
        if not rows:
            return None
        r = rows[0]
        return SignInCandidate(r["id"], r["tenant_id"], r["status"], self._phc(r))

    def _phc(self, row: asyncpg.Record) -> str | None:
        if row["password_nonce"] is None:
            return None
        return self.passwords.unseal(row["id"], {"nonce": sealing.b64(row["password_nonce"]),
                                                 "ciphertext": sealing.b64(row["password_ciphertext"])})

    async def is_active(self, tenant_id: str, user_id: str) -> bool:
        status = await self.pool.fetchval("SELECT status FROM users WHERE id = $1 AND tenant_id = $2",
                                          user_id, tenant_id)
        return status == "active"

    # Commands -----------------------------------------------------------------------------------
    async def _load(self, user_id: Any, tenant_id: str | None) -> tuple[str, UserState | None]:
        row = await self.row(user_id, tenant_id)
        if row is None:
            raise DomainError(NOT_FOUND, "user not found")
        stream = ev.user_stream(row["tenant_id"], row["id"])
        return stream, user_domain.fold(await self.store.load(stream))

    async def _change(self, user_id: Any, tenant_id: str | None,
                      decide: Callable[[UserState | None], Awaitable[list[NewEvent]] | list[NewEvent]]) -> dict[str, Any]:
        for attempt in range(2):
            stream, state = await self._load(user_id, tenant_id)
            new = decide(state)
            if asyncio.iscoroutine(new):
                new = await new
            if not new:
                return await self.get(user_id, tenant_id) if state.status != "deleted" else {}
            try:
                await self.store.append(stream, state.version, new)
            except ConcurrencyError:
                if attempt:
                    raise DomainError(CONFLICT, "the user changed meanwhile; try again") from None
                continue
            except asyncpg.UniqueViolationError as exc:
                raise _unique_violation(exc, state.tenant_id) from None
            return await self.get(user_id, tenant_id) if new[-1].type != ev.USER_DELETED else {}
        raise AssertionError("unreachable")

    async def _sealed(self, user_id: str, password: Any) -> dict[str, str]:
        return self.passwords.seal(user_id, await self.passwords.hash(check_policy(password)))

    async def create(self, tenant_id: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
        fields = dict(fields)
        password = fields.pop("password", None)
        tenant_id = await self.require_tenant(tenant_id)
        user_id = new_id()
        new = user_domain.create(None, user_id, tenant_id, fields, sealed_password_hash=None,
                                 updated_at=int(time.time()))
        if password is not None:
            sealed = await self._sealed(user_id, password)
            new = [NewEvent(e.type, {**e.data, "sealed_password_hash": sealed}, tenant=e.tenant) for e in new]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM tenants WHERE id = $1 FOR SHARE", tenant_id)
            await self.require_tenant(tenant_id, conn)
            try:
                await self.store.append(ev.user_stream(tenant_id, user_id), 0, new, conn=conn)
            except asyncpg.UniqueViolationError as exc:
                raise _unique_violation(exc, tenant_id) from None
        return await self.get(user_id)

    async def update(self, user_id: Any, changes: Mapping[str, Any], tenant_id: str | None = None) -> dict[str, Any]:
        return await self._change(user_id, tenant_id,
                                  lambda s: user_domain.update(s, changes, updated_at=int(time.time())))

    async def set_password(self, user_id: Any, password: Any, tenant_id: str | None = None) -> dict[str, Any]:
        check_policy(password)       # before any lookup: a bad password is a 400 whoever it is for

        async def decide(state: UserState | None) -> list[NewEvent]:
            state = user_domain.existing(state)
            return user_domain.set_password(state, await self._sealed(state.id, password))
        return await self._change(user_id, tenant_id, decide)

    async def rehash(self, tenant_id: str, user_id: str, password: str) -> None:
        """Store the password's hash with the current parameters (after a successful sign-in)."""
        async def decide(state: UserState | None) -> list[NewEvent]:
            if state is None or state.status != "active":
                return []
            return user_domain.set_password(state, await self._sealed(state.id, password), reason="rehash")
        try:
            await self._change(user_id, tenant_id, decide)
        except DomainError:
            pass                       # the user changed meanwhile: the next sign-in tries again

    async def disable(self, user_id: Any, tenant_id: str | None = None) -> dict[str, Any]:
        return await self._change(user_id, tenant_id, user_domain.disable)

    async def enable(self, user_id: Any, tenant_id: str | None = None) -> dict[str, Any]:
        return await self._change(user_id, tenant_id, user_domain.enable)

    async def delete(self, user_id: Any, tenant_id: str | None = None) -> None:
        await self._change(user_id, tenant_id, user_domain.delete)

    # Import -------------------------------------------------------------------------------------
    async def import_users(self, tenant_id: Any, items: Any) -> list[dict[str, str]]:
        """Create up to 1,000 users in one transaction, or none: the first problem refuses the batch."""
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_IMPORT:
            raise DomainError(INVALID_REQUEST, f"users must be a list of 1 to {MAX_IMPORT} users")
        tenant_id = await self.require_tenant(tenant_id)
        now = int(time.time())
        plans: list[tuple[str, list[NewEvent], Any, str | None]] = []
        seen_names: dict[str, int] = {}
        seen_emails: dict[str, int] = {}
        for index, item in enumerate(items):
            where = f"users[{index}]"
            if not isinstance(item, dict):
                raise DomainError(INVALID_REQUEST, f"{where}: must be an object")
            fields = dict(item)
            password, phc = fields.pop("password", None), fields.pop("password_hash", None)
            try:
                if password is not None and phc is not None:
                    raise DomainError(INVALID_REQUEST, "give either password or password_hash, not both")
                if password is not None:
                    password = check_policy(password)
                if phc is not None:
                    phc = check_phc(phc)
                user_id = new_id()
                new = user_domain.create(None, user_id, tenant_id, fields, sealed_password_hash=None,
                                         updated_at=now, source="import")
            except DomainError as exc:
                raise DomainError(exc.code, f"{where}: {exc.message}") from None
            data = new[0].data
            for seen, key, what in ((seen_names, data["username"], "username"), (seen_emails, data["email"], "email")):
                if key is None:
                    continue
                if key.lower() in seen:
                    raise DomainError(INVALID_REQUEST, f"{where}: {what} {key!r} repeats users[{seen[key.lower()]}]"
                                                       f" (compared without case)")
                seen[key.lower()] = index
            plans.append((user_id, new, password, phc))
        await self._refuse_taken(tenant_id, seen_names, seen_emails)
        # Plaintext passwords are hashed in parallel on the argon2 pool (bounded by its workers).
        hashed = await asyncio.gather(*(self.passwords.hash(p) for _, _, p, _ in plans if p is not None))
        hashes = iter(hashed)
        built: list[Event] = []
        for user_id, new, password, phc in plans:
            phc = next(hashes) if password is not None else phc
            data = {**new[0].data, "sealed_password_hash": self.passwords.seal(user_id, phc) if phc else None}
            built += self.store.build(ev.user_stream(tenant_id, user_id), 0,
                                      [NewEvent(ev.USER_CREATED, data, tenant=tenant_id)])
        await self._write_batch(tenant_id, built)
        return [{"id": e.data["user_id"], "username": e.data["username"]} for e in built]

    async def _refuse_taken(self, tenant_id: str, names: Mapping[str, int], emails: Mapping[str, int]) -> None:
        for column, keys in (("username", names), ("email", emails)):
            if not keys:
                continue
            taken = await self.pool.fetch(
                f"SELECT {column} AS value FROM users WHERE tenant_id = $1 AND status <> 'deleted'"
                f" AND lower({column}) = ANY($2::text[]) ORDER BY 1 LIMIT 10", tenant_id, list(keys))
            if taken:
                listing = ", ".join(repr(r["value"]) for r in taken)
                first = keys[taken[0]["value"].lower()]
                raise DomainError(CONFLICT, f"users[{first}]: {column} already taken in tenant {tenant_id!r}"
                                            f" ({listing}); nothing was imported")

    async def _write_batch(self, tenant_id: str, built: list[Event]) -> None:
        if self.store.fast_path is not None:   # at the pace of publishing (FastPath.make_room)
            if not await self.store.fast_path.make_room(len(built), IMPORT_PUBLISH_WAIT_S):
                log.info("authn.import_outpaces_publishing", users=len(built))
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.execute("SELECT 1 FROM tenants WHERE id = $1 FOR SHARE", tenant_id)
                    await self.require_tenant(tenant_id, conn)
                    built[:] = await self.store.insert(conn, built)
                    await conn.execute(INSERT_USERS, *user_rows(built))
                    if self.store.fast_path is None:
                        await conn.execute("SELECT pg_notify($1, '')", self.store.notify_channel)
            except asyncpg.UniqueViolationError as exc:
                raise DomainError(CONFLICT, f"{_unique_violation(exc, tenant_id).message} (a concurrent change);"
                                            " nothing was imported") from None
        if self.store.fast_path is not None:
            self.store.fast_path.submit(built)

    # Sign-in and consents ------------------------------------------------------------------------
    async def record_sign_in(self, *, session_id: str, user_id: str, tenant_id: str, application_id: str,
                             client_id: str, auth_time: int, amr: Sequence[str]) -> None:
        """The durable ``session.started`` event (awaited before the sign-in goes on)."""
        await self.store.append(ev.session_stream(tenant_id, session_id), 0, [NewEvent(
            ev.SESSION_STARTED, {"session_id": session_id, "user_id": user_id, "tenant_id": tenant_id,
                                 "application_id": application_id, "client_id": client_id, "amr": list(amr),
                                 "acr": "0", "auth_time": auth_time},
            tenant=tenant_id, application=application_id)])

    async def granted_scopes(self, tenant_id: str, user_id: str, application_id: str, client_id: str) -> list[str]:
        scopes = await self.pool.fetchval(
            "SELECT scopes FROM consents WHERE tenant_id = $1 AND user_id = $2 AND application_id = $3"
            " AND client_id = $4", tenant_id, user_id, application_id, client_id)
        return list(scopes or ())

    async def _consent(self, tenant_id: str, user_id: str, application_id: str, client_id: str,
                       decide: Callable[[frozenset[str]], list[NewEvent]]) -> None:
        stream = ev.consent_stream(tenant_id, user_id, application_id, client_id)
        for attempt in range(2):
            recorded = await self.store.load(stream)
            new = decide(consent_domain.fold(recorded))
            if not new:
                return
            try:
                await self.store.append(stream, len(recorded), new)
                return
            except ConcurrencyError:
                if attempt:
                    raise DomainError(CONFLICT, "the consent changed meanwhile; try again") from None

    async def grant_consent(self, tenant_id: str, user_id: str, application_id: str, client_id: str,
                            scopes: Sequence[str]) -> None:
        await self._consent(tenant_id, user_id, application_id, client_id,
                            lambda granted: consent_domain.grant(granted, tenant_id, user_id, application_id,
                                                                 client_id, scopes))

    async def list_consents(self, user_id: Any, tenant_id: str | None = None) -> list[dict[str, Any]]:
        row = await self.row(user_id, tenant_id)
        if row is None or row["status"] == "deleted":
            raise DomainError(NOT_FOUND, "user not found")
        rows = await self.pool.fetch("SELECT application_id, client_id, scopes, updated_at FROM consents"
                                     " WHERE tenant_id = $1 AND user_id = $2 ORDER BY application_id, client_id",
                                     row["tenant_id"], row["id"])
        return [{"application_id": r["application_id"], "client_id": r["client_id"], "scopes": list(r["scopes"]),
                 "updated_at": _iso(r["updated_at"])} for r in rows]

    async def revoke_consent(self, user_id: Any, application_id: str, client_id: str,
                             tenant_id: str | None = None) -> None:
        row = await self.row(user_id, tenant_id)
        if row is None or row["status"] == "deleted":
            raise DomainError(NOT_FOUND, "user not found")
        if not (plausible_id(application_id) and plausible_id(client_id)):
            raise DomainError(NOT_FOUND, "consent not found")
        t, u = row["tenant_id"], row["id"]
        found = []

        def decide(granted: frozenset[str]) -> list[NewEvent]:
            found.append(bool(granted))
            return consent_domain.revoke(granted, t, u, application_id, client_id)
        await self._consent(t, u, application_id, client_id, decide)
        if not found[-1]:
            raise DomainError(NOT_FOUND, "consent not found")
