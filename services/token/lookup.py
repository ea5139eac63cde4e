"""Application and client lookups for the protocol endpoints, cached in each process.

The token endpoint must not pay a database round trip to find its issuer and client. Entries
are dropped (1) at once when this process changes the registry, (2) within moments when any
replica does — it broadcasts on ``_tessera.token.registry``, outside the event stream — and
(3) when the registry's events arrive over NATS. Token issuance does not trust the cache
alone: the grant event is written only if the client, application and tenant are still at
the versions the cache saw (see :class:`services.token.issuer.Issuer`), so a client disabled
through any replica is refused by every replica at once.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import asyncpg
import orjson

from .model import ACTIVE, Application, Client
from .repository import application_from_row, client_from_row, plausible_id

INVALIDATE_SUBJECT = "_tessera.token.registry"
MAX_ENTRIES = 200_000
_MISSING = object()


class RegistryCache:
    def __init__(self, pool: asyncpg.Pool, max_entries: int = MAX_ENTRIES) -> None:
        self.pool = pool
        self.max_entries = max_entries
        self._apps: OrderedDict[str, Any] = OrderedDict()
        self._clients: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.tenant_versions: dict[str, int] = {}
        self._by_issuer: dict[str, str | None] = {}

    async def for_request(self, application_id: str | None, scheme: str, host: str) -> Application | None:
        """The application a request is for: by its path segment under the public URL, or by a
        custom issuer (``scheme://host`` or ``scheme://host/segment``) the request was sent to."""
        if application_id:
            app = await self.application(application_id)
            if app is not None:
                return app
        issuer = f"{scheme}://{host}" + (f"/{application_id}" if application_id else "")
        if issuer not in self._by_issuer:
            found = await self.pool.fetchval(
                "SELECT id FROM applications WHERE issuer = $1 AND status <> 'deleted'", issuer)
            self._by_issuer[issuer] = found
            if len(self._by_issuer) > self.max_entries:
                self._by_issuer.clear()
        found = self._by_issuer[issuer]
        return None if found is None else await self.application(found)

    async def application(self, application_id: str) -> Application | None:
        """The application, with ``status`` disabled while its tenant is disabled."""
        hit = self._apps.get(application_id, _MISSING)
        if hit is not _MISSING:
            self._apps.move_to_end(application_id)
            return hit
        app = None
        if plausible_id(application_id):
            row = await self.pool.fetchrow(
                "SELECT a.*, t.status AS tenant_status, t.version AS tenant_version FROM applications a "
                "JOIN tenants t ON t.id = a.tenant_id WHERE a.id = $1 AND a.status <> 'deleted'", application_id)
            if row is not None:
                app = application_from_row(row)
                if row["tenant_status"] != ACTIVE:
                    app = replace(app, status="disabled")
                self.tenant_versions[app.tenant_id] = row["tenant_version"]
        self._put(self._apps, application_id, app)
        return app

    async def client(self, application_id: str, client_id: str) -> Client | None:
        key = (application_id, client_id)
        hit = self._clients.get(key, _MISSING)
        if hit is not _MISSING:
            self._clients.move_to_end(key)
            return _unexpired(hit)
        client = None
        if plausible_id(application_id) and plausible_id(client_id):
            row = await self.pool.fetchrow(
                "SELECT * FROM clients WHERE application_id = $1 AND client_id = $2 AND status <> 'deleted'",
                application_id, client_id)
            client = None if row is None else client_from_row(row)
        self._put(self._clients, key, client)
        return _unexpired(client)

    def _put(self, table: OrderedDict, key: Any, value: Any) -> None:
        table[key] = value
        if len(table) > self.max_entries:
            table.popitem(last=False)

    def forget_application(self, application_id: str) -> None:
        self._apps.pop(application_id, None)
        self._by_issuer.clear()   # an issuer may have moved to or from this application
        for key in [k for k in self._clients if k[0] == application_id]:
            del self._clients[key]

    def clear(self) -> None:
        self._apps.clear()
        self._clients.clear()
        self._by_issuer.clear()
        self.tenant_versions.clear()

    def on_change(self, scope: dict[str, Any]) -> None:
        """Drop what a registry change may have touched: a tenant's change clears everything."""
        application = scope.get("application")
        if scope.get("tenant_changed") or not application:
            self.clear()
        else:
            self.forget_application(application)

    async def on_broadcast(self, msg) -> None:
        try:
            self.on_change(orjson.loads(msg.data))
        except (orjson.JSONDecodeError, AttributeError):
            self.clear()

    async def on_event(self, msg) -> None:
        """NATS callback for the token service's registry events (relayed by the outbox)."""
        try:
            envelope = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        aggregate = str(envelope.get("type", "")).split(".", 1)[0]
        if aggregate == "tenant":
            self.clear()
        elif aggregate in ("application", "client"):
            self.forget_application(envelope.get("application") or "")


def _unexpired(client: Client | None) -> Client | None:
    """Secrets past their grace deadline stop counting even while the entry is cached."""
    if client is None or all(h.expires_at is None for h in client.secret_hashes):
        return client
    now = datetime.now(timezone.utc)
    return replace(client, secret_hashes=tuple(h for h in client.secret_hashes
                                               if h.expires_at is None or h.expires_at > now))
