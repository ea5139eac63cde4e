"""What the keys service does on the token service's application events.

Subject ``tessera.token.*.application.*`` (one filter subject: NATS 2.9 allows no more).
``application.created`` records the application and ensures its keys; ``application.deleted``
records the deletion and revokes every key, which leaves the JWKS at once. Other application
events change nothing here. The consumer applies each event once (its inbox), in the same
transaction as the effects; the ``applications`` table it keeps is not rebuilt by replay.
"""
from __future__ import annotations

import asyncpg

from shared.events import Event
from shared.logging import get_logger

from .jwks import JwksCache
from .keyring import SLUG, ApplicationDeleted, KeyRing, TenantMismatch

log = get_logger("tessera.keys.consumer")

SUBJECT = "tessera.token.*.application.*"

# A late redelivery never overwrites a newer state.
_UPSERT = """
INSERT INTO applications (application_id, tenant_id, status, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (application_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, status = EXCLUDED.status,
    updated_at = EXCLUDED.updated_at
WHERE applications.updated_at <= EXCLUDED.updated_at
"""


def _ids(event: Event) -> tuple[str, str] | None:
    application_id = event.data.get("application_id") or event.application
    tenant_id = event.data.get("tenant_id") or event.tenant
    if isinstance(application_id, str) and isinstance(tenant_id, str) \
            and SLUG.fullmatch(application_id) and SLUG.fullmatch(tenant_id):
        return application_id, tenant_id
    return None


def application_events(keyring: KeyRing, cache: JwksCache):
    """The consumer handler, bound to the service's key ring and JWKS cache."""

    async def handle(conn: asyncpg.Connection, event: Event) -> None:
        if event.type not in ("application.created", "application.deleted"):
            return
        ids = _ids(event)
        if ids is None:
            log.warning("keys.application_event_ignored", type=event.type, event_id=str(event.id),
                        reason="no valid application_id and tenant_id")
            return
        application_id, tenant_id = ids
        if event.type == "application.created":
            await conn.execute(_UPSERT, application_id, tenant_id, "active", event.occurred_at)
            try:
                await keyring.ensure(application_id, tenant_id, conn=conn)
            except (ApplicationDeleted, TenantMismatch) as exc:
                log.warning("keys.application_event_ignored", type=event.type, event_id=str(event.id),
                            application=application_id, reason=type(exc).__name__)
                return
        else:
            await conn.execute(_UPSERT, application_id, tenant_id, "deleted", event.occurred_at)
            status = await conn.fetchval("SELECT status FROM applications WHERE application_id = $1",
                                         application_id)
            if status == "deleted":                # not a stale redelivery of an older deletion
                await keyring.revoke_all(conn, application_id, "application_deleted")
        # Before commit: a request in between may cache the old JWKS, for the cache's ttl at most.
        cache.invalidate(application_id)

    return handle
