"""What authn does on the token service's tenant events: keep the ``tenants`` table.

Subject ``tessera.token.*.tenant.*`` (one filter subject, as NATS 2.9 allows). Users may only be
created in a tenant recorded here and not deleted. The consumer applies each event once (its
inbox), and a late redelivery never overwrites a newer state (``updated_at``). The table is not
rebuilt by replay: it is built from another service's events.
"""
from __future__ import annotations

import re

import asyncpg

from shared.events import Event
from shared.logging import get_logger

log = get_logger("tessera.authn.consumer")

SUBJECT = "tessera.token.*.tenant.*"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
STATUS = {"tenant.created": "active", "tenant.enabled": "active", "tenant.disabled": "disabled",
          "tenant.deleted": "deleted"}

_UPSERT = """
INSERT INTO tenants (id, name, status, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
    name = COALESCE($5, tenants.name),
    status = CASE WHEN tenants.status = 'deleted' THEN 'deleted' ELSE COALESCE($6, tenants.status) END,
    updated_at = EXCLUDED.updated_at
WHERE tenants.updated_at <= EXCLUDED.updated_at
"""


async def tenant_event(conn: asyncpg.Connection, event: Event) -> None:
    tenant_id = event.data.get("tenant_id") or event.tenant
    if not isinstance(tenant_id, str) or not SLUG.fullmatch(tenant_id):
        log.warning("authn.tenant_event_ignored", type=event.type, event_id=str(event.id), reason="no valid tenant_id")
        return
    name = event.data.get("name") if event.type == "tenant.created" else (event.data.get("changes") or {}).get("name")
    status = STATUS.get(event.type)
    if event.type not in STATUS and event.type != "tenant.updated":
        return
    await conn.execute(_UPSERT, tenant_id, name if isinstance(name, str) else tenant_id, status or "active",
                       event.occurred_at, name if isinstance(name, str) else None, status)
