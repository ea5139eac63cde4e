"""The ``signing_keys`` read model, built from the signing_key.* events.

Applied in the append transaction, and rebuilt identically by ``python -m services.keys
replay`` (timestamps come from the events, never from ``now()``). The ``key_material`` vault
and the ``applications`` table are not projections: replay leaves them alone (see
``migrations/001_keys.sql``).
"""
from __future__ import annotations

from shared.events import Projection

from . import events

signing_keys = Projection("signing_keys", ["signing_keys"])

_SET_STATUS = """
UPDATE signing_keys SET status = $2, version = $3,
    activated_at = CASE WHEN $2 = 'current' THEN $4 ELSE activated_at END,
    retired_at   = CASE WHEN $2 = 'retired' THEN $4 ELSE retired_at END,
    revoked_at   = CASE WHEN $2 = 'revoked' THEN $4 ELSE revoked_at END
WHERE kid = $1
"""


@signing_keys.on(events.CREATED)
async def _created(conn, event):
    data = event.data
    activated_at = event.occurred_at if data["status"] == "current" else None
    await conn.execute(
        "INSERT INTO signing_keys (kid, application_id, tenant_id, alg, status, public_jwk, version,"
        " created_at, activated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        data["kid"], data["application_id"], event.tenant, data["alg"], data["status"],
        data["public_jwk"], event.sequence, event.occurred_at, activated_at)


def _status_handler(status: str):
    async def handler(conn, event):
        await conn.execute(_SET_STATUS, event.data["kid"], status, event.sequence, event.occurred_at)
    return handler


signing_keys.on(events.ACTIVATED)(_status_handler("current"))
signing_keys.on(events.RETIRED)(_status_handler("retired"))
signing_keys.on(events.REVOKED)(_status_handler("revoked"))
