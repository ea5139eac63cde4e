"""The code and refresh grants' group-committed write (services/token/refresh_tokens.TokenLog)."""
import orjson

from services.token.refresh_tokens import _WRITE
from shared.db import HeldConnection
from tests.support.plans import plan_of, rows_read

from .registry_fixtures import registry, token_schema, token_settings  # noqa: F401 - fixtures


async def test_rotation_looks_up_the_tokens_it_consumes_by_key_even_on_a_plan_made_when_the_table_was_empty(
        registry):
    """A new deployment caches its statements' generic plans while ``refresh_tokens`` is empty,
    and keeps them until the table is next analysed. The consuming UPDATE must still read only
    the rows it consumes, not the whole table (docs/performance-log.md, session 7)."""
    await registry.create_tenant("acme", "Acme")
    await registry.create_application("acme", "billing", "Billing")
    app, client = await registry.application("billing"), await registry.client("billing", "billing")

    def batch(*hashes: str) -> str:
        return orjson.dumps([{"ref": n, "application": "billing", "client_id": client.client_id,
                              "client_version": client.version, "application_version": app.version,
                              "consume": h, "refresh": None, "events": []}
                             for n, h in enumerate(hashes)]).decode()

    held = HeldConnection(registry.pool)     # set up as the writer's own connection is
    conn = await held.get()
    try:
        await conn.execute("ALTER TABLE refresh_tokens SET (autovacuum_enabled = off)")  # no analysis meanwhile
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE rotate(jsonb, text) AS {_WRITE}")
        await conn.execute(f"EXECUTE rotate($batch${batch('none')}$batch$, NULL)")  # planned now, on no rows
        await conn.execute("""
            INSERT INTO refresh_tokens (token_hash, token_id, family_id, grant_id, tenant_id, application_id,
                                        client_id, subject, scopes, claims, issued_at, expires_at)
            SELECT 'hash-' || i, 'token-' || i, 'family-' || i, 'grant-' || i, 'acme', 'billing', $1, 'alice',
                   '{openid}', '{}', now(), now() + interval '1 day'
            FROM generate_series(1, 2000) i""", client.client_id)
        plan = plan_of(await conn.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE rotate($batch${batch('hash-7', 'hash-1999')}$batch$, NULL)"))
        consumed = await conn.fetch("SELECT token_hash FROM refresh_tokens WHERE consumed_at IS NOT NULL")
    finally:
        await conn.execute("DEALLOCATE ALL; RESET plan_cache_mode")
        await held.release()
    assert sorted(r["token_hash"] for r in consumed) == ["hash-1999", "hash-7"]
    assert rows_read(plan, "refresh_tokens") <= 2, plan
