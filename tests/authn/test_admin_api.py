"""The users admin API, end to end through the gateway of a running suite."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import httpx
import orjson

from shared.events import Event
from shared.events.bus import ensure_stream


def _error(resp: httpx.Response, status: int, error: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    return body["error_description"]


async def test_users_api_refuses_a_request_without_an_admin_token(suite):
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.get(f"{suite.public_url}/admin/users?tenant=demo")
    _error(resp, 401, "invalid_token")


async def test_create_then_get_returns_every_claim_and_never_the_hash(api, app):
    body = {"tenant_id": app.tenant, "username": "Ada", "password": "analytical engine",
            "email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace", "given_name": "Ada",
            "phone_number": "+442071838750", "birthdate": "1815-12-10", "locale": "en-GB",
            "address": {"locality": "London", "country": "GB"}}
    created = await api("POST", "/admin/users", json=body)
    assert created.status_code == 201, created.text
    user = created.json()
    assert created.headers["Location"] == f"/admin/users/{user['id']}"
    fetched = (await api("GET", f"/admin/users/{user['id']}")).json()
    assert fetched == user
    assert user["username"] == "Ada" and user["status"] == "active" and user["has_password"] is True
    assert user["email_verified"] is True and user["phone_number_verified"] is False
    assert user["address"] == {"formatted": None, "street_address": None, "locality": "London", "region": None,
                               "postal_code": None, "country": "GB"}
    assert user["nickname"] is None and isinstance(user["updated_at"], int)
    assert "analytical" not in created.text and "argon2" not in created.text


async def test_username_and_email_are_unique_per_tenant_without_case(api, app, make_app, new_user):
    await new_user(app.tenant, username="grace", email="grace@example.com")
    same_name = await api("POST", "/admin/users", json={"tenant_id": app.tenant, "username": "GRACE"})
    assert "username" in _error(same_name, 409, "conflict")
    same_email = await api("POST", "/admin/users", json={"tenant_id": app.tenant, "username": "hopper",
                                                          "email": "Grace@Example.com"})
    assert "email" in _error(same_email, 409, "conflict")
    other = await make_app()
    from .conftest import wait_for_tenant
    await wait_for_tenant(api, other.tenant)
    elsewhere = await api("POST", "/admin/users", json={"tenant_id": other.tenant, "username": "grace",
                                                         "email": "grace@example.com"})
    assert elsewhere.status_code == 201, elsewhere.text


async def test_a_user_for_an_unknown_tenant_is_refused_with_a_clear_error(api):
    resp = await api("POST", "/admin/users", json={"tenant_id": f"nope-{uuid.uuid4().hex[:8]}", "username": "x"})
    assert "unknown to authn" in _error(resp, 404, "not_found")


async def test_a_user_is_created_in_a_tenant_whose_announcement_arrives_while_the_request_waits(api, nats_client):
    """Create a tenant, then at once its first user: authn waits for the token service's event."""
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    created = Event(id=uuid.uuid4(), type="tenant.created", version=1, stream=f"tenant:{tenant}", sequence=1,
                    occurred_at=datetime.now(timezone.utc), service="token", tenant=tenant, application=None,
                    request_id="test", actor=None, data={"tenant_id": tenant, "name": "Late"})

    async def announce_later() -> None:
        await asyncio.sleep(0.5)
        js = nats_client.jetstream()
        await ensure_stream(js)
        await js.publish(created.subject, orjson.dumps(created.envelope()), headers={"Nats-Msg-Id": str(created.id)})

    announcing = asyncio.create_task(announce_later())
    resp = await api("POST", "/admin/users", json={"tenant_id": tenant, "username": "first"})
    await announcing
    assert resp.status_code == 201, resp.text
    assert resp.json()["tenant_id"] == tenant


async def test_a_user_for_a_deleted_tenant_is_refused(api, make_app):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    assert (await api("POST", "/admin/tenants", json={"id": tenant, "name": tenant})).status_code == 201
    from .conftest import wait_for_tenant
    await wait_for_tenant(api, tenant)
    assert (await api("DELETE", f"/admin/tenants/{tenant}")).status_code == 204
    for attempt in range(100):
        # authn learns of the deletion from the event stream; until then each try makes a
        # user, so every try needs its own name or the second answers 409 for the first.
        resp = await api("POST", "/admin/users", json={"tenant_id": tenant, "username": f"late-{attempt}"})
        if resp.status_code != 201:
            break
        await asyncio.sleep(0.1)
    assert "deleted" in _error(resp, 410, "gone")


async def test_bad_input_answers_400_naming_the_field(api, app):
    cases = [
        ({"tenant_id": app.tenant}, "username is required"),
        ({"tenant_id": app.tenant, "username": "has space"}, "username must not contain whitespace"),
        ({"tenant_id": app.tenant, "username": "u1", "email": "not-an-email"}, "email must be"),
        ({"tenant_id": app.tenant, "username": "u1", "phone_number": "0123"}, "phone_number must be"),
        ({"tenant_id": app.tenant, "username": "u1", "birthdate": "10/12/1815"}, "birthdate must be"),
        ({"tenant_id": app.tenant, "username": "u1", "picture": "javascript:alert(1)"}, "picture must be"),
        ({"tenant_id": app.tenant, "username": "u1", "address": {"planet": "Mars"}}, "unknown address field"),
        ({"tenant_id": app.tenant, "username": "u1", "password": "short"}, "at least 8 characters"),
        ({"tenant_id": app.tenant, "username": "u1", "password": "x" * 257}, "at most 256 characters"),
        ({"tenant_id": app.tenant, "username": "u1", "is_admin": True}, "unknown user field(s): is_admin"),
    ]
    for body, message in cases:
        resp = await api("POST", "/admin/users", json=body)
        assert message in _error(resp, 400, "invalid_request"), body
    not_json = await api("POST", "/admin/users", content=b"{")
    _error(not_json, 400, "invalid_request")


async def test_patch_changes_only_what_differs_and_null_clears_a_claim(api, app, new_user):
    user = await new_user(app.tenant, nickname="nick", locale="fr-FR")
    resp = await api("PATCH", f"/admin/users/{user['id']}", json={"nickname": None, "locale": "fr-FR",
                                                                    "name": "New Name", "username": "renamed-" + user["id"][:6]})
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert after["nickname"] is None and after["name"] == "New Name" and after["locale"] == "fr-FR"
    assert after["username"].startswith("renamed-") and after["version"] == user["version"] + 1
    unchanged = await api("PATCH", f"/admin/users/{user['id']}", json={"name": "New Name"})
    assert unchanged.json()["version"] == after["version"]
    password = await api("PATCH", f"/admin/users/{user['id']}", json={"password": "another one"})
    assert "/password" in _error(password, 400, "invalid_request")


async def test_list_is_paginated_by_tenant(api, app, new_user):
    made = [await new_user(app.tenant) for _ in range(3)]
    first = (await api("GET", f"/admin/users?tenant={app.tenant}&limit=2")).json()
    assert len(first["items"]) == 2 and first["next"]
    second = (await api("GET", f"/admin/users?tenant={app.tenant}&limit=2&after={first['next']}")).json()
    assert second["next"] is None
    assert sorted(u["id"] for u in first["items"] + second["items"]) == sorted(u["id"] for u in made)
    _error(await api("GET", f"/admin/users?tenant={app.tenant}&limit=0"), 400, "invalid_request")
    _error(await api("GET", "/admin/users"), 400, "invalid_request")


async def test_tenant_scope_hides_a_user_of_another_tenant(api, app, make_app, new_user):
    user = await new_user(app.tenant)
    other = await make_app()
    resp = await api("GET", f"/admin/users/{user['id']}?tenant={other.tenant}")
    _error(resp, 404, "not_found")
    assert (await api("GET", f"/admin/users/{user['id']}?tenant={app.tenant}")).status_code == 200


async def test_disable_enable_delete_lifecycle(api, app, new_user):
    user = await new_user(app.tenant)
    path = f"/admin/users/{user['id']}"
    assert (await api("POST", path + "/disable")).json()["status"] == "disabled"
    assert (await api("POST", path + "/enable")).json()["status"] == "active"
    assert (await api("DELETE", path)).status_code == 204
    _error(await api("GET", path), 404, "not_found")
    _error(await api("POST", path + "/disable"), 410, "gone")
    # The username is free again; the id is not reused.
    again = await api("POST", "/admin/users", json={"tenant_id": app.tenant, "username": user["username"]})
    assert again.status_code == 201 and again.json()["id"] != user["id"]


async def test_set_password_checks_the_policy(api, app, new_user):
    user = await new_user(app.tenant, password=None)
    assert user["has_password"] is False
    path = f"/admin/users/{user['id']}/password"
    _error(await api("POST", path, json={"password": "1234567"}), 400, "invalid_request")
    assert (await api("POST", path, json={"password": "12345678"})).status_code == 204
    assert (await api("GET", f"/admin/users/{user['id']}")).json()["has_password"] is True
    _error(await api("POST", "/admin/users/nobody/password", json={"password": "12345678"}), 404, "not_found")


async def test_unknown_routes_and_methods_answer_the_json_error_object(api):
    _error(await api("PUT", "/admin/users"), 405, "method_not_allowed")
    _error(await api("GET", "/admin/users/nobody"), 404, "not_found")


async def test_openapi_document_is_served(suite):
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.get(f"{suite.public_url}/admin/users/openapi.yaml")
    assert resp.status_code == 200 and resp.text.startswith("openapi: 3.1")
