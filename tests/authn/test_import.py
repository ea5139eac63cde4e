"""Bulk import: up to 1,000 users per call, with a password or a precomputed argon2id hash;
any problem refuses the whole batch with a clear error, and nothing is written."""
from __future__ import annotations

import uuid

from argon2 import PasswordHasher

from .conftest import events_of
from .test_admin_api import _error


def _users(n: int, prefix: str | None = None, **extra) -> list[dict]:
    prefix = prefix or f"imp{uuid.uuid4().hex[:6]}"
    return [{"username": f"{prefix}-{i}", "email": f"{prefix}-{i}@example.com", "name": f"User {i}", **extra}
            for i in range(n)]


async def _count(api, tenant: str) -> int:
    total, after = 0, None
    while True:
        resp = await api("GET", f"/admin/users?tenant={tenant}&limit=200" + (f"&after={after}" if after else ""))
        page = resp.json()
        total += len(page["items"])
        if not page["next"]:
            return total
        after = page["next"]


async def test_import_of_a_thousand_users_with_precomputed_hashes_in_one_call(api, app):
    phc = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("imported password")
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant,
                                                          "users": _users(1000, password_hash=phc)})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["imported"] == 1000 and len({u["id"] for u in body["users"]}) == 1000
    assert await _count(api, app.tenant) == 1000
    one = (await api("GET", f"/admin/users/{body['users'][7]['id']}")).json()
    assert one["has_password"] is True and one["name"] == "User 7"


async def test_an_imported_hash_and_an_imported_password_both_sign_in(suite, api, app, pending, browser):
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("from the old system")
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": [
        {"username": "hashed", "password_hash": weaker}, {"username": "plain", "password": "a plain password"}]})
    assert resp.status_code == 201, resp.text
    hashed_id = resp.json()["users"][0]["id"]
    for username, password in (("hashed", "from the old system"), ("plain", "a plain password")):
        rid = await pending(app, skip_consent=True)
        signed = await browser().sign_in(app.id, rid, username, password)
        assert signed.status_code == 303, signed.text
    # The weaker imported hash was recomputed with the current parameters at sign-in.
    events = await events_of(suite, app.tenant, hashed_id)
    assert [e["type"] for e in events] == ["user.created", "user.password_changed"]
    assert events[1]["data"]["reason"] == "rehash"


async def test_a_bad_hash_refuses_the_whole_batch(api, app):
    users = _users(3)
    users[1]["password_hash"] = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"   # bcrypt
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": users})
    assert _error(resp, 400, "invalid_request").startswith("users[1]: password_hash must be an argon2id PHC string")
    assert await _count(api, app.tenant) == 0
    costly = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant,
                                                          "users": [{"username": "x", "password_hash": costly}]})
    assert "parameter m must be between" in _error(resp, 400, "invalid_request")


async def test_a_duplicate_username_within_the_batch_refuses_it(api, app):
    users = _users(4)
    users[3]["username"] = users[1]["username"].upper()
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": users})
    assert _error(resp, 400, "invalid_request") == (f"users[3]: username {users[3]['username']!r} repeats users[1]"
                                                    " (compared without case)")
    assert await _count(api, app.tenant) == 0


async def test_a_username_or_email_taken_by_an_existing_user_refuses_the_batch(api, app, new_user):
    existing = await new_user(app.tenant, email="taken@example.com")
    users = _users(3)
    users[2]["username"] = existing["username"]
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": users})
    message = _error(resp, 409, "conflict")
    assert message.startswith("users[2]: username already taken") and "nothing was imported" in message
    users = _users(2)
    users[0]["email"] = "TAKEN@example.com"
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": users})
    assert _error(resp, 409, "conflict").startswith("users[0]: email already taken")
    assert await _count(api, app.tenant) == 1


async def test_batch_size_and_shape_are_checked(api, app):
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": _users(1001)})
    assert "1 to 1000 users" in _error(resp, 400, "invalid_request")
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": []})
    _error(resp, 400, "invalid_request")
    both = [{"username": "x", "password": "12345678", "password_hash": "$argon2id$"}]
    resp = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": both})
    assert "either password or password_hash" in _error(resp, 400, "invalid_request")
    resp = await api("POST", "/admin/users/import", json={"tenant_id": "no-such-tenant-x", "users": _users(1)})
    _error(resp, 404, "not_found")
