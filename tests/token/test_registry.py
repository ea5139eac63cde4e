"""The registry through the real event store and Postgres read models."""
import asyncio

import orjson
import pytest

from services.token.domain import DomainError
from services.token.model import ACTIVE, DISABLED
from shared.crypto import matches
from shared.events.projection import replay

from .registry_fixtures import registry, token_schema, token_settings  # noqa: F401 - fixtures


async def _code(awaitable) -> str:
    with pytest.raises(DomainError) as info:
        await awaitable
    return info.value.code


async def _event_count(registry) -> int:
    return await registry.pool.fetchval("SELECT count(*) FROM events")


async def _setup(registry, tenant="acme", app="billing"):
    await registry.create_tenant(tenant, tenant.title())
    return await registry.create_application(tenant, app, app.title(), scopes=["openid", "invoices:read"])


async def test_create_application_writes_it_and_its_default_client_with_a_usable_secret(registry):
    created = await _setup(registry)
    app = await registry.application("billing")
    assert app == created.application
    assert app.issuer == "https://id.example.com/billing" and app.tenant_id == "acme" and app.status == ACTIVE
    client = await registry.client("billing", "billing")
    assert client == created.default_client
    assert client.grant_types == ("client_credentials",) and client.confidential
    assert client.scopes == ("openid", "invoices:read")
    assert matches(registry.settings.secret_pepper, created.client_secret, client.secret_hashes[0].hash)
    types = [r["type"] for r in await registry.pool.fetch("SELECT type FROM events ORDER BY position")]
    assert types == ["tenant.created", "application.created", "client.created"]
    # Each event waits in the outbox (by its position) for the relay.
    assert await registry.pool.fetchval("SELECT count(*) FROM outbox JOIN events USING (position)") == 3


async def test_create_application_with_the_code_grant_needs_redirect_uris_and_writes_nothing_without(registry):
    await registry.create_tenant("acme", "Acme")
    before = await _event_count(registry)
    code = await _code(registry.create_application("acme", "portal", "Portal",
                                                   grant_types=["authorization_code"]))
    assert code == "invalid_request"
    assert await _event_count(registry) == before
    created = await registry.create_application("acme", "portal", "Portal", grant_types=["authorization_code"],
                                                redirect_uris=["https://portal.example.com/cb"])
    assert created.default_client.redirect_uris == ("https://portal.example.com/cb",)


async def test_create_application_in_an_unknown_tenant_is_not_found(registry):
    assert await _code(registry.create_application("nobody", "billing", "Billing")) == "not_found"
    assert await _event_count(registry) == 0


async def test_update_disable_enable_tenant_flow(registry):
    await registry.create_tenant("acme", "Acme")
    assert (await registry.update_tenant("acme", {"name": "Acme Inc."})).name == "Acme Inc."
    assert (await registry.disable_tenant("acme")).status == DISABLED
    assert (await registry.tenant("acme")).status == DISABLED
    enabled = await registry.enable_tenant("acme")
    assert enabled.status == ACTIVE and enabled.version == 4
    assert await registry.tenant("acme") == enabled


async def test_a_command_that_changes_nothing_appends_nothing(registry):
    await registry.create_tenant("acme", "Acme")
    before = await _event_count(registry)
    await registry.enable_tenant("acme")
    await registry.update_tenant("acme", {"name": "Acme"})
    assert await _event_count(registry) == before


async def test_update_application_changes_settings_in_the_read_model(registry):
    await _setup(registry)
    updated = await registry.update_application("billing", {"settings": {"access_token_format": "opaque",
                                                                         "access_token_ttl": 600}})
    app = await registry.application("billing")
    assert app == updated
    assert app.settings.access_token_format == "opaque" and app.settings.access_token_ttl == 600
    assert app.settings.access_token_alg == "ES256" and app.version == 2


async def test_two_applications_cannot_share_an_issuer(registry):
    await _setup(registry)
    await registry.create_application("acme", "shop", "Shop", issuer="https://login.example.com")
    before = await _event_count(registry)
    code = await _code(registry.create_application("acme", "shop2", "Shop 2", issuer="https://login.example.com"))
    assert code == "conflict"
    code = await _code(registry.update_application("billing", {"issuer": "https://login.example.com"}))
    assert code == "conflict"
    assert await _event_count(registry) == before
    assert await registry.application("shop2") is None


async def test_duplicate_application_id_is_a_conflict_and_writes_nothing(registry):
    await _setup(registry)
    await registry.create_tenant("globex", "Globex")
    before = await _event_count(registry)
    assert await _code(registry.create_application("globex", "billing", "Billing")) == "conflict"
    assert await _event_count(registry) == before
    assert (await registry.application("billing")).tenant_id == "acme"
    assert await registry.pool.fetchval("SELECT count(*) FROM clients") == 1


async def test_concurrent_creations_of_one_application_id_exactly_one_wins(registry):
    await registry.create_tenant("acme", "Acme")
    await registry.create_tenant("globex", "Globex")
    results = await asyncio.gather(
        *(registry.create_application(t, "billing", "Billing") for t in ["acme", "globex"] * 3),
        return_exceptions=True)
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, DomainError) and r.code == "conflict" for r in results if isinstance(r, Exception))
    assert await registry.pool.fetchval("SELECT count(*) FROM events WHERE type = 'application.created'") == 1
    assert await registry.pool.fetchval("SELECT count(*) FROM events WHERE type = 'client.created'") == 1


async def test_concurrent_updates_are_retried_and_each_lands_or_reports_a_conflict(registry):
    await _setup(registry)
    names = [f"Billing {i}" for i in range(2)]
    results = await asyncio.gather(*(registry.update_application("billing", {"name": n}) for n in names),
                                   return_exceptions=True)
    assert all(not isinstance(r, Exception) for r in results)   # one wins, the other retries and wins
    app = await registry.application("billing")
    assert app.version == 3 and app.name in names

    many = await asyncio.gather(*(registry.update_tenant("acme", {"name": f"Acme {i}"}) for i in range(8)),
                                return_exceptions=True)
    failures = [r for r in many if isinstance(r, Exception)]
    assert all(isinstance(r, DomainError) and r.code == "conflict" for r in failures)
    tenant = await registry.tenant("acme")
    assert tenant.version == 1 + (len(many) - len(failures))


async def test_delete_application_deletes_its_clients_in_one_go(registry):
    await _setup(registry)
    extra = await registry.create_client("billing", name="Exporter", scopes=["invoices:read"])
    await registry.delete_application("billing")
    assert await registry.application("billing") is None
    assert await registry.client("billing", "billing") is None
    assert await registry.client("billing", extra.client.client_id) is None
    rows = await registry.pool.fetch("SELECT status, secret_hashes FROM clients")
    assert [(r["status"], r["secret_hashes"]) for r in rows] == [("deleted", []), ("deleted", [])]
    assert await _code(registry.update_application("billing", {"name": "x"})) == "gone"
    assert await _code(registry.create_client("billing", name="late")) == "not_found"
    assert await _code(registry.create_application("acme", "billing", "Again")) == "gone"


async def test_delete_tenant_is_refused_while_it_has_applications(registry):
    await _setup(registry)
    assert await _code(registry.delete_tenant("acme")) == "conflict"
    await registry.delete_application("billing")
    await registry.delete_tenant("acme")
    assert await registry.tenant("acme") is None
    assert await _code(registry.update_tenant("acme", {"name": "x"})) == "gone"
    assert (await registry.list_tenants()).items == []


async def test_create_client_registers_a_random_id_and_a_secret_once(registry):
    await _setup(registry)
    created = await registry.create_client("billing", name="Exporter", scopes=["invoices:read"])
    assert len(created.client.client_id) == 22 and created.client_secret
    stored = await registry.client("billing", created.client.client_id)
    assert stored == created.client
    assert matches(registry.settings.secret_pepper, created.client_secret, stored.secret_hashes[0].hash)


async def test_a_public_client_gets_no_secret(registry):
    await _setup(registry)
    created = await registry.create_client(
        "billing", name="SPA", token_endpoint_auth_method="none", grant_types=["authorization_code"],
        redirect_uris=["https://spa.example.com/cb"])
    assert created.client_secret is None and created.client.secret_hashes == ()
    assert await _code(registry.rotate_client_secret("billing", created.client.client_id)) == "invalid_request"


async def test_rotation_with_grace_keeps_both_secrets_and_without_grace_only_the_new(registry):
    created = await _setup(registry)
    pepper = registry.settings.secret_pepper
    rotated = await registry.rotate_client_secret("billing", "billing", grace_seconds=3600)
    client = await registry.client("billing", "billing")
    assert [h.expires_at is None for h in client.secret_hashes] == [True, False]
    assert matches(pepper, rotated.client_secret, client.secret_hashes[0].hash)
    assert matches(pepper, created.client_secret, client.secret_hashes[1].hash)
    again = await registry.rotate_client_secret("billing", "billing", grace_seconds=0)
    client = await registry.client("billing", "billing")
    assert len(client.secret_hashes) == 1 and matches(pepper, again.client_secret, client.secret_hashes[0].hash)


async def test_expired_secret_hashes_are_not_returned(registry):
    await _setup(registry)
    await registry.rotate_client_secret("billing", "billing", grace_seconds=1)
    assert len((await registry.client("billing", "billing")).secret_hashes) == 2
    await asyncio.sleep(2.1)   # the deadline is rounded up to a whole second
    assert len((await registry.client("billing", "billing")).secret_hashes) == 1


async def test_update_client_and_disable_enable_delete(registry):
    await _setup(registry)
    updated = await registry.update_client("billing", "billing", {"scopes": ["invoices:read"]})
    assert updated.scopes == ("invoices:read",) and await registry.client("billing", "billing") == updated
    assert (await registry.disable_client("billing", "billing")).status == DISABLED
    assert (await registry.enable_client("billing", "billing")).status == ACTIVE
    await registry.delete_client("billing", "billing")
    assert await registry.client("billing", "billing") is None
    assert await _code(registry.enable_client("billing", "billing")) == "gone"


async def test_another_tenant_sees_nothing_of_an_application_or_its_clients(registry):
    await _setup(registry)
    await registry.create_tenant("globex", "Globex")
    other = {"tenant_id": "globex"}
    before = await _event_count(registry)
    for call in (
        registry.show_application("billing", **other),
        registry.update_application("billing", {"name": "mine"}, **other),
        registry.disable_application("billing", **other),
        registry.enable_application("billing", **other),
        registry.delete_application("billing", **other),
        registry.list_clients("billing", **other),
        registry.create_client("billing", name="sneaky", **other),
        registry.show_client("billing", "billing", **other),
        registry.update_client("billing", "billing", {"name": "mine"}, **other),
        registry.rotate_client_secret("billing", "billing", **other),
        registry.disable_client("billing", "billing", **other),
        registry.enable_client("billing", "billing", **other),
        registry.delete_client("billing", "billing", **other),
    ):
        assert await _code(call) == "not_found"
    assert await _event_count(registry) == before
    assert (await registry.show_application("billing", tenant_id="acme")).id == "billing"
    assert (await registry.list_applications("globex")).items == []


async def test_lists_page_with_limit_and_after(registry):
    for i in range(5):
        await registry.create_tenant(f"tenant-{i}", f"Tenant {i}")
    first = await registry.list_tenants(limit=2)
    assert [t.id for t in first.items] == ["tenant-0", "tenant-1"] and first.next == "tenant-1"
    second = await registry.list_tenants(limit=2, after=first.next)
    assert [t.id for t in second.items] == ["tenant-2", "tenant-3"]
    last = await registry.list_tenants(limit=2, after=second.next)
    assert [t.id for t in last.items] == ["tenant-4"] and last.next is None
    assert await _code(registry.list_tenants(limit=0)) == "invalid_request"
    assert await _code(registry.list_tenants(limit=201)) == "invalid_request"


async def test_no_secret_is_stored_in_the_clear_anywhere_in_the_schema(registry, token_schema):
    name, pool = token_schema
    created = await _setup(registry)
    extra = await registry.create_client("billing", name="Exporter")
    rotated = await registry.rotate_client_secret("billing", extra.client.client_id, grace_seconds=60)
    secrets = [created.client_secret, extra.client_secret, rotated.client_secret]
    tables = [r["table_name"] for r in await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", name)]
    assert {"events", "outbox", "tenants", "applications", "clients"} <= set(tables)
    for table in tables:
        for row in await pool.fetch(f'SELECT * FROM "{table}"'):
            for value in row.values():
                text = (value.decode(errors="replace") if isinstance(value, bytes)
                        else orjson.dumps(value, default=str).decode())
                assert not any(s in text for s in secrets), f"a secret is stored in {table}"


async def test_replay_rebuilds_identical_read_models(registry):
    await _setup(registry)
    await registry.create_tenant("globex", "Globex")
    await registry.create_application("globex", "shop", "Shop", issuer="https://shop.example.com",
                                      settings={"access_token_format": "opaque"})
    extra = await registry.create_client("billing", name="Exporter", access_token_format="opaque")
    await registry.rotate_client_secret("billing", extra.client.client_id, grace_seconds=600)
    await registry.update_client("billing", extra.client.client_id, {"name": "Exporter 2"})
    await registry.disable_client("billing", "billing")
    await registry.update_application("shop", {"scopes": ["openid"], "settings": {"code_ttl": 30}})
    await registry.disable_tenant("globex")
    await registry.create_tenant("initech", "Initech")
    await registry.create_application("initech", "tps", "TPS")
    await registry.delete_application("tps")
    await registry.delete_tenant("initech")

    async def snapshot():
        return {table: [dict(r) for r in await registry.pool.fetch(f"SELECT * FROM {table} ORDER BY {key}")]
                for table, key in [("tenants", "id"), ("applications", "id"),
                                   ("clients", "application_id, client_id")]}

    live = await snapshot()
    await registry.pool.execute("UPDATE clients SET name = 'damaged', secret_hashes = '[]'")
    count = await replay(registry.store)
    assert count == await _event_count(registry)
    assert await snapshot() == live
