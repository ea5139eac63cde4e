"""Rebuilding the userinfo read models from the event stream gives the state the live consumers built."""
from __future__ import annotations

import nats

from services.userinfo.read_model import TABLES
from services.userinfo.rebuild import rebuild

from tests.userinfo.conftest import bearer

_ORDER = {"tenants": "tenant_id", "applications": "application_id", "users": "tenant_id, user_id"}


async def snapshot(pool) -> dict[str, list[dict]]:
    async with pool.acquire() as conn:
        return {table: [dict(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {_ORDER[table]}")]
                for table in TABLES}


async def test_rebuild_from_the_stream_gives_the_live_state(ready_app, authn, tokens, http, userinfo_db, suite):
    app = await ready_app()
    kept = await authn.create(app.tenant)
    await authn.update(app.tenant, kept, family_name="King", address=None, updated_at=1764100300)
    gone = await authn.create(app.tenant)
    await authn.set_status(app.tenant, gone, "deleted")
    off = await authn.create(app.tenant)
    await authn.set_status(app.tenant, off, "disabled")
    live = await snapshot(userinfo_db)

    nc = await nats.connect(suite.env["TESSERA_NATS_URL"])
    try:
        applied = await rebuild(userinfo_db, nc.jetstream())
    finally:
        await nc.close()

    assert applied >= 7
    assert await snapshot(userinfo_db) == live
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, kept, "openid profile")))
    assert resp.status_code == 200 and resp.json()["family_name"] == "King"
