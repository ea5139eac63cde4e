"""Read models rebuilt from the event log equal the live ones; no password or hash in the clear
in logs or on NATS (events carry only the sealed hash)."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import orjson

from shared import sealing
from shared.config import decode_key


async def _snapshot(url: str) -> dict[str, list]:
    conn = await asyncpg.connect(url)
    try:
        users = [dict(r) for r in await conn.fetch("SELECT * FROM authn.users ORDER BY id")]
        consents = [dict(r) for r in await conn.fetch(
            "SELECT * FROM authn.consents ORDER BY tenant_id, user_id, application_id, client_id")]
    finally:
        await conn.close()
    return {"users": users, "consents": consents}


async def test_replay_gives_the_same_users_and_consents(suite, api, app, new_user, pending, browser):
    user = await new_user(app.tenant, email="replay@example.com", address={"country": "FR"})
    await api("PATCH", f"/admin/users/{user['id']}", json={"name": "Replayed", "email": None})
    await api("POST", f"/admin/users/{user['id']}/password", json={"password": "new password 2"})
    gone = await new_user(app.tenant)
    await api("DELETE", f"/admin/users/{gone['id']}")
    await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": [
        {"username": f"r{i}-{user['id'][:5]}", "password": "imported pw"} for i in range(3)]})
    b = browser()
    rid = await pending(app, scopes=["openid", "read"])
    assert (await b.sign_in(app.id, rid, user["username"], "new password 2")).status_code == 303
    assert (await b.decide(app.id, rid, "allow")).status_code == 303

    url = suite.env["TESSERA_DATABASE_URL"]
    before = await _snapshot(url)
    assert any(c["user_id"] == user["id"] for c in before["consents"])
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.authn", "replay"],
                                   env=suite.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"replay.done"' in proc.stderr
    after = await _snapshot(url)
    assert after == before


async def test_no_password_or_clear_hash_in_logs_or_nats_only_the_sealed_hash(suite, api, app, new_user, pending,
                                                                             browser, event_contract):
    password = "Sup3r-Secret-Pa55phrase"
    user = await new_user(app.tenant, password=password)
    imported = await api("POST", "/admin/users/import", json={"tenant_id": app.tenant, "users": [
        {"username": f"imp-{user['id'][:6]}", "password": password + "-imp"}]})
    assert imported.status_code == 201
    await browser().sign_in(app.id, await pending(app, skip_consent=True), user["username"], password)
    await browser().sign_in(app.id, await pending(app, skip_consent=True), user["username"], password + "-wrong")
    await asyncio.sleep(1.0)                               # the last events reach NATS and the logs

    logs = suite.logs()
    assert user["id"] in logs                              # the logs are there and name the user
    for secret in (password, "$argon2id$", "argon2id$v="):
        assert secret not in logs

    envelopes = [e for e in event_contract.envelopes() if e.get("service") == "authn"
                 and e["data"].get("user_id") == user["id"]]
    created = [e for e in envelopes if e["type"] == "user.created"]
    assert len(created) == 1
    for envelope in envelopes:
        text = orjson.dumps(envelope).decode()
        assert password not in text and "argon2" not in text
    sealed = created[0]["data"]["sealed_password_hash"]
    assert set(sealed) == {"nonce", "ciphertext"}
    kek = decode_key("TESSERA_KEY_ENCRYPTION_KEY", suite.env["TESSERA_KEY_ENCRYPTION_KEY"])
    phc = sealing.unseal(kek, user["id"].encode(), sealing.unb64(sealed["nonce"]), sealing.unb64(sealed["ciphertext"]))
    assert phc.startswith(b"$argon2id$v=19$m=19456,t=2,p=1$")      # only the KEK holder sees the hash
