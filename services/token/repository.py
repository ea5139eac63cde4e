"""The registry: reads of tenants, applications and clients, and the commands that change them.

Reads (``tenant``, ``application``, ``client``) are plain lookups in the read-model tables and
return the frozen dataclasses of :mod:`services.token.model`, or ``None`` for an unknown or
deleted id. (No cache yet: the token endpoint's cache will sit in front of these.)

A command loads its aggregate's stream, folds it, lets the pure domain decide
(:mod:`services.token.domain`) and appends the events with optimistic concurrency; when the
stream moved meanwhile it reloads and tries once more, then answers ``conflict``. Rules that span
aggregates lock the read-model row they depend on inside the append transaction (a tenant while
an application is created in it or it is deleted; an application while a client is created in it
or it is deleted), so no application appears in a deleted tenant and no client in a deleted
application.

Tenant isolation: every application and client command takes the ``tenant_id`` the caller
names (``None`` for a suite-wide admin). An application or client of another tenant is
reported ``not_found``, exactly as if it did not exist.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Generic, Mapping, Sequence, TypeVar

import asyncpg

from shared.config import Settings
from shared.crypto import new_client_id, new_secret, secret_hash
from shared.events import ConcurrencyError, Event, EventStore, NewEvent

from . import events as ev
from .domain import CONFLICT, DomainError, INVALID_REQUEST, NOT_FOUND
from .domain import application as app_domain
from .domain import client as client_domain
from .domain import tenant as tenant_domain
from .domain.application import ADMIN_SCOPE, ApplicationState, settings_from_data
from .domain.client import ClientState
from .domain.tenant import TenantState
from .domain.validation import slug
from .model import Application, Client, Tenant
from .projections import hashes_from_json

T = TypeVar("T")
Append = tuple[str, int, Sequence[NewEvent]]
MAX_PAGE = 200
MAX_ID = 255
DEFAULT_PAGE = 50

_UNIQUE = {
    "tenants_pkey": "a tenant with this id already exists",
    "applications_pkey": "an application with this id already exists",
    "applications_issuer_key": "another application already uses this issuer",
    "clients_pkey": "a client with this id already exists",
}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None          # pass as ``after`` to get the next page; None: this was the last


@dataclass(frozen=True, slots=True)
class ClientWithSecret:
    client: Client
    client_secret: str | None  # the plaintext, shown once; None for a public client


@dataclass(frozen=True, slots=True)
class NewApplication:
    application: Application
    default_client: Client
    client_secret: str         # the default client's secret, shown once


# State -> read model ---------------------------------------------------------------------------
def tenant_model(s: TenantState) -> Tenant:
    return Tenant(id=s.id, name=s.name, status=s.status, version=s.version)


def application_model(s: ApplicationState) -> Application:
    return Application(id=s.id, tenant_id=s.tenant_id, name=s.name, issuer=s.issuer, status=s.status,
                       settings=s.settings, scopes=s.scopes, version=s.version)


def client_model(s: ClientState) -> Client:
    return Client(application_id=s.application_id, client_id=s.client_id, tenant_id=s.tenant_id, name=s.name,
                  status=s.status, token_endpoint_auth_method=s.token_endpoint_auth_method,
                  grant_types=s.grant_types, redirect_uris=s.redirect_uris, scopes=s.scopes,
                  secret_hashes=s.secret_hashes, access_token_format=s.access_token_format, version=s.version,
                  skip_consent=s.skip_consent)


# Row -> read model -----------------------------------------------------------------------------
def tenant_from_row(r: asyncpg.Record) -> Tenant:
    return Tenant(id=r["id"], name=r["name"], status=r["status"], version=r["version"])


def application_from_row(r: asyncpg.Record) -> Application:
    return Application(id=r["id"], tenant_id=r["tenant_id"], name=r["name"], issuer=r["issuer"],
                       status=r["status"], settings=settings_from_data(r["settings"]),
                       scopes=tuple(r["scopes"]), version=r["version"])


def client_from_row(r: asyncpg.Record, now: datetime | None = None) -> Client:
    hashes = hashes_from_json(r["secret_hashes"])
    if now is not None:
        hashes = tuple(h for h in hashes if h.expires_at is None or h.expires_at > now)
    return Client(application_id=r["application_id"], client_id=r["client_id"], tenant_id=r["tenant_id"],
                  name=r["name"], status=r["status"], token_endpoint_auth_method=r["token_endpoint_auth_method"],
                  grant_types=tuple(r["grant_types"]), redirect_uris=tuple(r["redirect_uris"]),
                  scopes=tuple(r["scopes"]), secret_hashes=hashes, access_token_format=r["access_token_format"],
                  version=r["version"], skip_consent=r["skip_consent"])


def _owned(state: Any, tenant_id: str | None) -> Any:
    """The state if the caller's tenant owns it; None (reported as not found) otherwise."""
    if state is None or tenant_id is None or state.tenant_id == tenant_id:
        return state
    return None


def plausible_id(value: Any) -> bool:
    """Whether ``value`` could be an id at all (Postgres text holds no NUL; ids are short)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and "\x00" not in value


def _known(value: Any, what: str) -> str:
    """An id to look up or load; anything that cannot be one is simply not found."""
    if not plausible_id(value):
        raise DomainError(NOT_FOUND, f"{what} not found")
    return value


def _page_args(limit: Any, after: Any) -> tuple[int, str]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise DomainError(INVALID_REQUEST, f"limit must be an integer between 1 and {MAX_PAGE}")
    if after is not None and not plausible_id(after):
        raise DomainError(INVALID_REQUEST, "after must be the cursor of a previous page")
    return limit, after or ""


def _page(items: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    if len(items) > limit:
        items = items[:limit]
        return Page(items, key(items[-1]))
    return Page(items, None)


class Registry:
    def __init__(self, pool: asyncpg.Pool, store: EventStore, settings: Settings,
                 on_change: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
        self.pool = pool
        self.store = store
        self.settings = settings
        self.on_change = on_change   # told after every committed change (caches listen)

    # Reads ------------------------------------------------------------------------------------
    async def tenant(self, tenant_id: str) -> Tenant | None:
        if not plausible_id(tenant_id):
            return None
        row = await self.pool.fetchrow("SELECT * FROM tenants WHERE id = $1 AND status <> 'deleted'", tenant_id)
        return None if row is None else tenant_from_row(row)

    async def application(self, application_id: str) -> Application | None:
        if not plausible_id(application_id):
            return None
        row = await self.pool.fetchrow("SELECT * FROM applications WHERE id = $1 AND status <> 'deleted'",
                                       application_id)
        return None if row is None else application_from_row(row)

    async def client(self, application_id: str, client_id: str) -> Client | None:
        """A client with its unexpired secret hashes (``None`` when unknown or deleted)."""
        if not (plausible_id(application_id) and plausible_id(client_id)):
            return None
        row = await self.pool.fetchrow(
            "SELECT * FROM clients WHERE application_id = $1 AND client_id = $2 AND status <> 'deleted'",
            application_id, client_id)
        return None if row is None else client_from_row(row, datetime.now(timezone.utc))

    async def list_tenants(self, *, limit: int = DEFAULT_PAGE, after: str | None = None) -> Page[Tenant]:
        limit, after = _page_args(limit, after)
        rows = await self.pool.fetch(
            "SELECT * FROM tenants WHERE status <> 'deleted' AND id > $1 ORDER BY id LIMIT $2", after, limit + 1)
        return _page([tenant_from_row(r) for r in rows], limit, lambda t: t.id)

    async def list_applications(self, tenant_id: str, *, limit: int = DEFAULT_PAGE,
                                after: str | None = None) -> Page[Application]:
        limit, after = _page_args(limit, after)
        if await self.tenant(tenant_id) is None:
            raise DomainError(NOT_FOUND, "tenant not found")
        rows = await self.pool.fetch(
            "SELECT * FROM applications WHERE tenant_id = $1 AND status <> 'deleted' AND id > $2"
            " ORDER BY id LIMIT $3", tenant_id, after, limit + 1)
        return _page([application_from_row(r) for r in rows], limit, lambda a: a.id)

    async def list_clients(self, application_id: str, *, tenant_id: str | None = None,
                           limit: int = DEFAULT_PAGE, after: str | None = None) -> Page[Client]:
        """Clients of an application, secret hashes included (callers must not show them)."""
        limit, after = _page_args(limit, after)
        if _owned(await self.application(application_id), tenant_id) is None:
            raise DomainError(NOT_FOUND, "application not found")
        rows = await self.pool.fetch(
            "SELECT * FROM clients WHERE application_id = $1 AND status <> 'deleted' AND client_id > $2"
            " ORDER BY client_id LIMIT $3", application_id, after, limit + 1)
        now = datetime.now(timezone.utc)
        return _page([client_from_row(r, now) for r in rows], limit, lambda c: c.client_id)

    async def show_application(self, application_id: str, *, tenant_id: str | None = None) -> Application:
        found = _owned(await self.application(application_id), tenant_id)
        if found is None:
            raise DomainError(NOT_FOUND, "application not found")
        return found

    async def show_client(self, application_id: str, client_id: str, *,
                          tenant_id: str | None = None) -> Client:
        found = _owned(await self.client(application_id, client_id), tenant_id)
        if found is None:
            raise DomainError(NOT_FOUND, "client not found")
        return found

    async def admin_client_ids(self) -> list[str]:
        """Live clients of the system application that can get an admin token."""
        rows = await self.pool.fetch(
            "SELECT client_id FROM clients WHERE application_id = $1 AND status = 'active'"
            " AND 'client_credentials' = ANY(grant_types) AND $2 = ANY(scopes) ORDER BY client_id",
            app_domain.SYSTEM_APPLICATION, ADMIN_SCOPE)
        return [r["client_id"] for r in rows]

    # Plumbing ---------------------------------------------------------------------------------
    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` (load, decide, append); on a concurrent change, once more."""
        try:
            return await attempt()
        except ConcurrencyError:
            pass
        try:
            return await attempt()
        except ConcurrencyError:
            raise DomainError(CONFLICT, "the resource was changed concurrently; please retry") from None

    async def _transact(self, decide: Callable[[asyncpg.Connection], Awaitable[Sequence[Append]]]) -> None:
        """Append what ``decide`` returns (it may lock and read rows first), all or nothing."""
        written: list[Event] = []
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    for stream, expected, new in await decide(conn):
                        if new:
                            written += await self.store.append(stream, expected, new, conn=conn)
            except asyncpg.UniqueViolationError as exc:
                message = _UNIQUE.get(exc.constraint_name or "")
                if message is None:
                    raise
                raise DomainError(CONFLICT, message) from None
        if written and self.on_change is not None:
            await self.on_change({
                "tenant_changed": any(e.type.startswith("tenant.") for e in written),
                "application": written[0].application if len({e.application for e in written}) == 1 else None,
            })

    async def _append(self, stream: str, expected: int, new: Sequence[NewEvent]) -> None:
        if new:
            async def decide(_conn: asyncpg.Connection) -> list[Append]:
                return [(stream, expected, new)]
            await self._transact(decide)

    def _hash(self, secret: str) -> str:
        return secret_hash(self.settings.secret_pepper, secret)

    async def _load_tenant(self, tenant_id: str) -> tuple[list[Event], TenantState | None]:
        events = await self.store.load(ev.tenant_stream(_known(tenant_id, "tenant")))
        return events, tenant_domain.fold(events)

    async def _load_application(self, application_id: str, tenant_id: str | None
                                ) -> tuple[list[Event], ApplicationState | None]:
        events = await self.store.load(ev.application_stream(_known(application_id, "application")))
        return events, _owned(app_domain.fold(events), tenant_id)

    async def _load_client(self, application_id: str, client_id: str, tenant_id: str | None
                           ) -> tuple[list[Event], ClientState | None]:
        _known(application_id, "application")
        events = await self.store.load(ev.client_stream(application_id, _known(client_id, "client")))
        return events, _owned(client_domain.fold(events), tenant_id)

    async def _lock_tenant(self, conn: asyncpg.Connection, tenant_id: str, mode: str) -> TenantState | None:
        row = await conn.fetchrow(f"SELECT * FROM tenants WHERE id = $1 FOR {mode}", tenant_id)
        return None if row is None else TenantState(row["id"], row["name"], row["status"], row["version"])

    # Tenants ----------------------------------------------------------------------------------
    async def _tenant_command(self, tenant_id: str,
                              command: Callable[[TenantState | None], list[NewEvent]]) -> Tenant:
        async def attempt() -> Tenant:
            events, state = await self._load_tenant(tenant_id)
            new = command(state)
            await self._append(ev.tenant_stream(tenant_id), len(events), new)
            return tenant_model(tenant_domain.fold([*events, *new]))
        return await self._retrying(attempt)

    async def create_tenant(self, tenant_id: str, name: str, *, system: bool = False) -> Tenant:
        slug(tenant_id, "tenant id")
        return await self._tenant_command(
            tenant_id, lambda s: tenant_domain.create(s, tenant_id, name, system=system))

    async def update_tenant(self, tenant_id: str, changes: Mapping[str, Any]) -> Tenant:
        return await self._tenant_command(tenant_id, lambda s: tenant_domain.update(s, changes))

    async def disable_tenant(self, tenant_id: str) -> Tenant:
        return await self._tenant_command(tenant_id, tenant_domain.disable)

    async def enable_tenant(self, tenant_id: str) -> Tenant:
        return await self._tenant_command(tenant_id, tenant_domain.enable)

    async def show_tenant(self, tenant_id: str) -> Tenant:
        found = await self.tenant(tenant_id)
        if found is None:
            raise DomainError(NOT_FOUND, "tenant not found")
        return found

    async def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant; refused (``conflict``) while it has applications that are not deleted."""
        async def attempt() -> None:
            events, state = await self._load_tenant(tenant_id)
            tenant_domain.delete(state, live_applications=0)  # not found / gone / system first

            async def decide(conn: asyncpg.Connection) -> list[Append]:
                await self._lock_tenant(conn, tenant_id, "UPDATE")
                live = await conn.fetchval(
                    "SELECT count(*) FROM applications WHERE tenant_id = $1 AND status <> 'deleted'", tenant_id)
                return [(ev.tenant_stream(tenant_id), len(events),
                         tenant_domain.delete(state, live_applications=live))]
            await self._transact(decide)
        await self._retrying(attempt)

    # Applications -----------------------------------------------------------------------------
    async def create_application(self, tenant_id: str, application_id: str, name: str, *,
                                 issuer: str | None = None, settings: Mapping[str, Any] | None = None,
                                 scopes: Sequence[str] | None = None, grant_types: Sequence[str] | None = None,
                                 redirect_uris: Sequence[str] | None = None,
                                 system: bool = False) -> NewApplication:
        """Create an application and its default client (``client_id == application_id``,
        confidential, ``grant_types`` or client_credentials); the client's secret is returned once."""
        slug(application_id, "application id")
        _known(tenant_id, "tenant")

        async def attempt() -> NewApplication:
            app_events = await self.store.load(ev.application_stream(application_id))
            state = app_domain.fold(app_events)
            client_events = await self.store.load(ev.client_stream(application_id, application_id))
            secret = new_secret()
            result: dict[str, Any] = {}

            async def decide(conn: asyncpg.Connection) -> list[Append]:
                tenant = await self._lock_tenant(conn, tenant_id, "SHARE")
                new_app = app_domain.create(
                    state, application_id=application_id, tenant=tenant, name=name,
                    public_url=self.settings.public_url, issuer=issuer, settings=settings, scopes=scopes,
                    system=system)
                app_after = app_domain.fold([*app_events, *new_app])
                new_client = client_domain.create(
                    client_domain.fold(client_events), application=app_after, client_id=application_id,
                    name=app_after.name, secret_hash=self._hash(secret),
                    grant_types=["client_credentials"] if grant_types is None else grant_types,
                    redirect_uris=redirect_uris)
                result["application"] = application_model(app_after)
                result["client"] = client_model(client_domain.fold([*client_events, *new_client]))
                return [(ev.application_stream(application_id), len(app_events), new_app),
                        (ev.client_stream(application_id, application_id), len(client_events), new_client)]
            await self._transact(decide)
            return NewApplication(result["application"], result["client"], secret)
        return await self._retrying(attempt)

    async def _application_command(self, application_id: str, tenant_id: str | None,
                                   command: Callable[[ApplicationState | None], list[NewEvent]]) -> Application:
        async def attempt() -> Application:
            events, state = await self._load_application(application_id, tenant_id)
            new = command(state)
            await self._append(ev.application_stream(application_id), len(events), new)
            return application_model(app_domain.fold([*events, *new]))
        return await self._retrying(attempt)

    async def update_application(self, application_id: str, changes: Mapping[str, Any], *,
                                 tenant_id: str | None = None) -> Application:
        public_url = self.settings.public_url
        return await self._application_command(
            application_id, tenant_id, lambda s: app_domain.update(s, changes, public_url=public_url))

    async def disable_application(self, application_id: str, *, tenant_id: str | None = None) -> Application:
        return await self._application_command(application_id, tenant_id, app_domain.disable)

    async def enable_application(self, application_id: str, *, tenant_id: str | None = None) -> Application:
        return await self._application_command(application_id, tenant_id, app_domain.enable)

    async def delete_application(self, application_id: str, *, tenant_id: str | None = None) -> None:
        """Delete an application and every client of it, in one transaction."""
        async def attempt() -> None:
            app_events, state = await self._load_application(application_id, tenant_id)
            new_app = app_domain.delete(state)
            client_ids = await self._live_client_ids(self.pool, application_id)
            appends: list[Append] = []
            for client_id in client_ids:
                events, client = await self._load_client(application_id, client_id, None)
                appends.append((ev.client_stream(application_id, client_id), len(events),
                                client_domain.delete(client)))
            appends.append((ev.application_stream(application_id), len(app_events), new_app))

            async def decide(conn: asyncpg.Connection) -> list[Append]:
                await conn.execute("SELECT 1 FROM applications WHERE id = $1 FOR UPDATE", application_id)
                if await self._live_client_ids(conn, application_id) != client_ids:
                    raise ConcurrencyError(ev.application_stream(application_id), len(app_events))
                return appends
            await self._transact(decide)
        await self._retrying(attempt)

    @staticmethod
    async def _live_client_ids(conn: asyncpg.Pool | asyncpg.Connection, application_id: str) -> list[str]:
        rows = await conn.fetch("SELECT client_id FROM clients WHERE application_id = $1 AND status <> 'deleted'"
                                " ORDER BY client_id", application_id)
        return [r["client_id"] for r in rows]

    # Clients ----------------------------------------------------------------------------------
    async def create_client(self, application_id: str, *, name: str, tenant_id: str | None = None,
                            token_endpoint_auth_method: str = "client_secret_basic",
                            grant_types: Sequence[str] | None = None, redirect_uris: Sequence[str] | None = None,
                            scopes: Sequence[str] | None = None,
                            access_token_format: str | None = None, skip_consent: bool = False) -> ClientWithSecret:
        """Register a client with a random id; a confidential one gets a secret, returned once."""
        async def attempt() -> ClientWithSecret:
            app_events, application = await self._load_application(application_id, tenant_id)
            client_id = new_client_id()
            secret = new_secret() if token_endpoint_auth_method != "none" else None
            new = client_domain.create(
                None, application=application, client_id=client_id, name=name,
                secret_hash=None if secret is None else self._hash(secret),
                token_endpoint_auth_method=token_endpoint_auth_method, grant_types=grant_types,
                redirect_uris=redirect_uris, scopes=scopes, access_token_format=access_token_format,
                skip_consent=skip_consent)

            async def decide(conn: asyncpg.Connection) -> list[Append]:
                version = await conn.fetchval(
                    "SELECT version FROM applications WHERE id = $1 AND status <> 'deleted' FOR SHARE",
                    application_id)
                if version != len(app_events):   # deleted or changed since loaded: decide again
                    raise ConcurrencyError(ev.application_stream(application_id), len(app_events))
                return [(ev.client_stream(application_id, client_id), 0, new)]
            await self._transact(decide)
            return ClientWithSecret(client_model(client_domain.fold(new)), secret)
        return await self._retrying(attempt)

    async def _client_command(self, application_id: str, client_id: str, tenant_id: str | None,
                              command: Callable[[ClientState | None, ApplicationState | None], list[NewEvent]]
                              ) -> Client:
        async def attempt() -> Client:
            _app_events, application = await self._load_application(application_id, tenant_id)
            events, state = await self._load_client(application_id, client_id, tenant_id)
            if application is None:
                state = None
            new = command(state, application)
            await self._append(ev.client_stream(application_id, client_id), len(events), new)
            return client_model(client_domain.fold([*events, *new]))
        return await self._retrying(attempt)

    async def update_client(self, application_id: str, client_id: str, changes: Mapping[str, Any], *,
                            tenant_id: str | None = None) -> Client:
        return await self._client_command(
            application_id, client_id, tenant_id,
            lambda s, app: client_domain.update(s, changes, application=app))

    async def rotate_client_secret(self, application_id: str, client_id: str, *, grace_seconds: int = 0,
                                   tenant_id: str | None = None) -> ClientWithSecret:
        """A new secret for a confidential client; earlier ones stay valid ``grace_seconds``."""
        secret = new_secret()
        hashed = self._hash(secret)
        client = await self._client_command(
            application_id, client_id, tenant_id,
            lambda s, _app: client_domain.rotate_secret(s, secret_hash=hashed, grace_seconds=grace_seconds,
                                                        now=datetime.now(timezone.utc)))
        return ClientWithSecret(client, secret)

    async def disable_client(self, application_id: str, client_id: str, *, tenant_id: str | None = None) -> Client:
        return await self._client_command(application_id, client_id, tenant_id,
                                          lambda s, _app: client_domain.disable(s))

    async def enable_client(self, application_id: str, client_id: str, *, tenant_id: str | None = None) -> Client:
        return await self._client_command(application_id, client_id, tenant_id,
                                          lambda s, _app: client_domain.enable(s))

    async def delete_client(self, application_id: str, client_id: str, *, tenant_id: str | None = None) -> None:
        await self._client_command(application_id, client_id, tenant_id,
                                   lambda s, _app: client_domain.delete(s))


__all__ = ["ClientWithSecret", "DomainError", "NewApplication", "Page", "Registry"]
