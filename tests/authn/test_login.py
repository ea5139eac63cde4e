"""The hosted login and consent pages with a scripted (browserless) client, against the running
suite; pending requests are written into Redis exactly as ADR 0005 specifies."""
from __future__ import annotations

import re
import time

import orjson

from shared import redis_keys

from .conftest import CSRF, resume_url, wait_for_tenant


def _sso_cookie(b, tenant: str) -> str | None:
    return b.http.cookies.get(f"tessera_sso_{tenant}")


async def test_sign_in_then_consent_allow_writes_the_result_and_redirects_to_resume(
        suite, app, new_user, pending, result, browser):
    user = await new_user(app.tenant)
    rid = await pending(app, scopes=["openid", "profile", "read"])
    b = browser()
    page, csrf = await b.login_page(app.id, rid)
    assert page.status_code == 200 and csrf
    for name in ('name="username"', 'name="password"', 'name="request"', 'name="csrf"'):
        assert name in page.text
    assert "Test &lt;Client&gt;" in page.text and "<Client>" not in page.text      # escaped
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"

    signed = await b.post(f"/{app.id}/login", {"request": rid, "csrf": csrf, "username": user["username"],
                                               "password": user["password"]})
    assert signed.status_code == 303, signed.text
    assert signed.headers["Location"] == f"{suite.public_url}/{app.id}/consent?request={rid}"
    cookie = signed.headers.get_list("set-cookie")
    sso = [c for c in cookie if c.startswith(f"tessera_sso_{app.tenant}=")][0]
    assert "HttpOnly" in sso and "SameSite=Lax" in sso and "Path=/" in sso and "Secure" not in sso
    assert len(_sso_cookie(b, app.tenant)) >= 43                     # 256 bits, base64url
    assert await result(rid) is None                                  # consent first

    consent = await b.get(f"/{app.id}/consent", params={"request": rid})
    assert consent.status_code == 200 and 'name="decision"' in consent.text and "read" in consent.text
    allowed = await b.decide(app.id, rid, "allow")
    assert allowed.status_code == 303 and allowed.headers["Location"] == resume_url(suite, app, rid)
    answer = await result(rid)
    assert set(answer) == {"user_id", "auth_time", "amr", "acr", "sid", "granted_scopes"}
    assert answer["user_id"] == user["id"] and answer["amr"] == ["pwd"] and answer["acr"] == "0"
    assert answer["granted_scopes"] == ["openid", "profile", "read"]
    assert abs(answer["auth_time"] - time.time()) < 60 and answer["sid"]


async def test_result_expires_with_the_request(app, new_user, pending, browser, redis):
    user = await new_user(app.tenant)
    rid = await pending(app, skip_consent=True, ttl=120)
    resp = await browser().sign_in(app.id, rid, user["username"], user["password"])
    assert resp.status_code == 303
    ttl = await redis.pttl(redis_keys.authorization_result(rid))
    assert 0 < ttl <= await redis.pttl(redis_keys.authorization_request(rid)) + 50


async def test_sign_in_by_email_without_case(app, new_user, pending, result, browser):
    user = await new_user(app.tenant, email="Mixed.Case@Example.com")
    rid = await pending(app, skip_consent=True)
    resp = await browser().sign_in(app.id, rid, "mixed.case@example.COM", user["password"])
    assert resp.status_code == 303 and (await result(rid))["user_id"] == user["id"]


async def test_wrong_password_and_unknown_account_get_the_same_generic_answer(app, new_user, pending, result,
                                                                              browser):
    user = await new_user(app.tenant)
    rid = await pending(app)
    b = browser()
    wrong = await b.sign_in(app.id, rid, user["username"], "not the password")
    unknown = await b.sign_in(app.id, rid, "nobody-here", "not the password")
    for resp in (wrong, unknown):
        assert resp.status_code == 401
        assert "Wrong account or password." in resp.text
    def strip(text: str) -> str:
        text = re.sub(r'nonce="[^"]+"', "", CSRF.sub("", text))
        return text.replace(user["username"], "X").replace("nobody-here", "X")
    assert strip(wrong.text) == strip(unknown.text)
    assert await result(rid) is None


async def test_a_post_without_a_valid_csrf_token_is_refused(app, new_user, pending, result, browser):
    user = await new_user(app.tenant)
    rid = await pending(app, skip_consent=True)
    b = browser()
    _page, csrf = await b.login_page(app.id, rid)
    forged = await b.post(f"/{app.id}/login", {"request": rid, "csrf": csrf[:-2] + "AA", "username": user["username"],
                                               "password": user["password"]})
    assert forged.status_code == 403 and "expired" in forged.text
    other = browser()                                                   # right token, another browser
    stolen = await other.post(f"/{app.id}/login", {"request": rid, "csrf": csrf, "username": user["username"],
                                                   "password": user["password"]})
    assert stolen.status_code == 403
    assert await result(rid) is None


async def test_account_is_locked_after_five_failures_even_for_the_right_password(app, new_user, pending, result,
                                                                                 browser):
    user = await new_user(app.tenant)
    rid = await pending(app, skip_consent=True)
    b = browser()
    for _ in range(5):
        assert (await b.sign_in(app.id, rid, user["username"], "wrong password")).status_code == 401
    locked = await b.sign_in(app.id, rid, user["username"], user["password"])
    assert locked.status_code == 429
    assert 800 <= int(locked.headers["Retry-After"]) <= 900
    assert "Too many failed attempts. Try again in 15 minutes." in locked.text
    assert await result(rid) is None


async def test_an_ip_is_limited_across_accounts(suite, app, pending):
    """Straight to the authn process, as from behind a proxy that names the client IP."""
    import httpx
    rid = await pending(app)
    ip = "203.0.113.77"
    authn = next(p for p in suite.others if p.name == "authn")
    async with httpx.AsyncClient(base_url=authn.url, timeout=60, headers={"X-Forwarded-For": ip}) as http:
        page = await http.get(f"/{app.id}/login", params={"request": rid})
        csrf = CSRF.search(page.text).group(1)
        statuses = []
        for n in range(51):
            resp = await http.post(f"/{app.id}/login", data={"request": rid, "csrf": csrf, "username": f"acct{n}",
                                                             "password": "wrong password"})
            statuses.append(resp.status_code)
    assert statuses[:50] == [401] * 50 and statuses[50] == 429


async def test_sso_session_skips_the_form_and_remembered_consent_skips_the_page(
        suite, app, new_user, pending, result, browser):
    user = await new_user(app.tenant)
    b = browser()
    first = await pending(app, scopes=["openid", "read"])
    assert (await b.sign_in(app.id, first, user["username"], user["password"])).status_code == 303
    assert (await b.decide(app.id, first, "allow")).status_code == 303
    sid = (await result(first))["sid"]

    second = await pending(app, scopes=["read", "openid"])
    resp = await b.get(f"/{app.id}/login", params={"request": second})
    assert resp.status_code == 303 and resp.headers["Location"] == resume_url(suite, app, second)
    answer = await result(second)
    assert answer["sid"] == sid and answer["user_id"] == user["id"]

    wider = await pending(app, scopes=["openid", "read", "write"])      # a scope not consented yet
    resp = await b.get(f"/{app.id}/login", params={"request": wider})
    assert resp.status_code == 303 and "/consent?" in resp.headers["Location"]

    forced = await pending(app, scopes=["openid"], prompt=["consent"])  # prompt=consent always asks
    resp = await b.get(f"/{app.id}/login", params={"request": forced})
    assert resp.status_code == 303 and "/consent?" in resp.headers["Location"]


async def test_consent_deny_answers_access_denied(suite, app, new_user, pending, result, browser):
    user = await new_user(app.tenant)
    rid = await pending(app)
    b = browser()
    await b.sign_in(app.id, rid, user["username"], user["password"])
    denied = await b.decide(app.id, rid, "deny")
    assert denied.status_code == 303 and denied.headers["Location"] == resume_url(suite, app, rid)
    assert (await result(rid))["error"] == "access_denied"
    again = await pending(app)                                          # nothing was remembered
    resp = await b.get(f"/{app.id}/login", params={"request": again})
    assert "/consent?" in resp.headers["Location"]


async def test_skip_consent_client_needs_no_consent_page(suite, app, new_user, pending, result, browser):
    user = await new_user(app.tenant)
    rid = await pending(app, skip_consent=True, scopes=["openid", "write"])
    resp = await browser().sign_in(app.id, rid, user["username"], user["password"])
    assert resp.headers["Location"] == resume_url(suite, app, rid)
    assert (await result(rid))["granted_scopes"] == ["openid", "write"]


async def test_prompt_none_never_shows_a_page(suite, app, new_user, pending, result, browser):
    b = browser()
    rid = await pending(app, prompt=["none"])
    resp = await b.get(f"/{app.id}/login", params={"request": rid})
    assert resp.status_code == 303 and resp.headers["Location"] == resume_url(suite, app, rid)
    assert (await result(rid))["error"] == "login_required"

    user = await new_user(app.tenant)
    signed = await pending(app, skip_consent=True)
    await b.sign_in(app.id, signed, user["username"], user["password"])
    needs_consent = await pending(app, prompt=["none"], scopes=["openid", "read"])
    resp = await b.get(f"/{app.id}/login", params={"request": needs_consent})
    assert resp.status_code == 303 and (await result(needs_consent))["error"] == "consent_required"
    ok = await pending(app, prompt=["none"], skip_consent=True)
    resp = await b.get(f"/{app.id}/login", params={"request": ok})
    assert resp.status_code == 303 and (await result(ok))["user_id"] == user["id"]


async def test_max_age_and_prompt_login_force_a_new_sign_in(app, new_user, pending, result, browser):
    user = await new_user(app.tenant)
    b = browser()
    first = await pending(app, skip_consent=True)
    await b.sign_in(app.id, first, user["username"], user["password"])
    auth_time = (await result(first))["auth_time"]
    time.sleep(1.1)
    within = await pending(app, skip_consent=True, max_age=3600)
    assert (await b.get(f"/{app.id}/login", params={"request": within})).status_code == 303
    assert (await result(within))["auth_time"] == auth_time
    expired = await pending(app, skip_consent=True, max_age=0)
    page = await b.get(f"/{app.id}/login", params={"request": expired})
    assert page.status_code == 200 and 'name="password"' in page.text
    again = await b.sign_in(app.id, expired, user["username"], user["password"])
    assert again.status_code == 303 and (await result(expired))["auth_time"] > auth_time
    login = await pending(app, skip_consent=True, prompt=["login"])
    assert (await b.get(f"/{app.id}/login", params={"request": login})).status_code == 200


async def test_result_is_written_once(app, new_user, pending, result, browser, redis):
    user = await new_user(app.tenant)
    rid = await pending(app, skip_consent=True)
    b = browser()
    _page, csrf = await b.login_page(app.id, rid)
    form = {"request": rid, "csrf": csrf, "username": user["username"], "password": user["password"]}
    assert (await b.post(f"/{app.id}/login", form)).status_code == 303
    first = await redis.get(redis_keys.authorization_result(rid))
    again = await b.post(f"/{app.id}/login", form)                      # a replayed form post
    assert again.status_code == 303 and "/authorize/resume" in again.headers["Location"]
    other = await new_user(app.tenant)
    await redis.delete(f"tessera:authn:fail:account:{app.tenant}")       # (no effect: keys are hashed)
    page = await browser().get(f"/{app.id}/login", params={"request": rid})
    assert page.status_code == 303                                      # answered: straight to resume
    assert await redis.get(redis_keys.authorization_result(rid)) == first
    assert orjson.loads(first)["user_id"] == user["id"] != other["id"]


async def test_unknown_expired_or_foreign_request_shows_an_error_page_never_a_redirect(app, make_app, api,
                                                                                      pending, browser):
    b = browser()
    for rid in ("does-not-exist-at-all-xyz", "bad id!", ""):
        resp = await b.get(f"/{app.id}/login", params={"request": rid})
        assert resp.status_code == 400 and "Location" not in resp.headers
        assert "unknown or has expired" in resp.text and resp.headers["Cache-Control"] == "no-store"
    other = await make_app()
    await wait_for_tenant(api, other.tenant)
    rid = await pending(app)
    resp = await b.get(f"/{other.id}/login", params={"request": rid})
    assert resp.status_code == 400 and "another application" in resp.text
    posted = await b.post(f"/{app.id}/login", {"request": "nope-nope-nope-nope", "csrf": "x", "username": "a",
                                               "password": "b"})
    assert posted.status_code == 400


async def test_a_user_of_tenant_a_cannot_sign_in_at_an_application_of_tenant_b(app, make_app, api, new_user,
                                                                              pending, result, browser):
    user = await new_user(app.tenant)
    other = await make_app()
    await wait_for_tenant(api, other.tenant)
    rid = await pending(other, skip_consent=True)
    resp = await browser().sign_in(other.id, rid, user["username"], user["password"])
    assert resp.status_code == 401 and await result(rid) is None
    # Nor does tenant A's session count at tenant B.
    b = browser()
    await b.sign_in(app.id, await pending(app, skip_consent=True), user["username"], user["password"])
    rid_b = await pending(other, skip_consent=True, prompt=["none"])
    await b.get(f"/{other.id}/login", params={"request": rid_b})
    assert (await result(rid_b))["error"] == "login_required"


async def test_disabled_or_deleted_user_cannot_sign_in_and_loses_the_session(api, app, new_user, pending,
                                                                              result, browser):
    user = await new_user(app.tenant)
    b = browser()
    await b.sign_in(app.id, await pending(app, skip_consent=True), user["username"], user["password"])
    assert (await api("POST", f"/admin/users/{user['id']}/disable")).status_code == 200
    rid = await pending(app, skip_consent=True, prompt=["none"])
    await b.get(f"/{app.id}/login", params={"request": rid})
    assert (await result(rid))["error"] == "login_required"              # the session stopped working
    rid = await pending(app, skip_consent=True)
    assert (await b.sign_in(app.id, rid, user["username"], user["password"])).status_code == 401
    assert (await api("DELETE", f"/admin/users/{user['id']}")).status_code == 204
    assert (await b.sign_in(app.id, rid, user["username"], user["password"])).status_code == 401


async def test_every_successful_sign_in_is_a_durable_session_started_event(suite, app, new_user, pending,
                                                                           result, browser):
    import asyncpg
    user = await new_user(app.tenant)
    rid = await pending(app, skip_consent=True)
    await browser().sign_in(app.id, rid, user["username"], user["password"])
    sid = (await result(rid))["sid"]
    conn = await asyncpg.connect(suite.env["TESSERA_DATABASE_URL"])
    try:
        row = await conn.fetchrow("SELECT type, tenant, application, data FROM authn.events WHERE stream = $1",
                                  f"session:{app.tenant}:{sid}")
    finally:
        await conn.close()
    data = orjson.loads(row["data"])
    assert row["type"] == "session.started" and row["tenant"] == app.tenant and row["application"] == app.id
    assert data["user_id"] == user["id"] and data["session_id"] == sid and data["amr"] == ["pwd"]
    assert data["client_id"] == app.client_id


async def test_revoking_a_consent_through_the_admin_api_brings_the_page_back(api, app, new_user, pending, browser):
    user = await new_user(app.tenant)
    b = browser()
    rid = await pending(app, scopes=["openid", "read"])
    await b.sign_in(app.id, rid, user["username"], user["password"])
    await b.decide(app.id, rid, "allow")
    listed = (await api("GET", f"/admin/users/{user['id']}/consents")).json()["items"]
    assert [(c["application_id"], c["client_id"], c["scopes"]) for c in listed] == \
        [(app.id, app.client_id, ["openid", "read"])]
    assert (await api("DELETE", f"/admin/users/{user['id']}/consents/{app.id}/{app.client_id}")).status_code == 204
    assert (await api("DELETE", f"/admin/users/{user['id']}/consents/{app.id}/{app.client_id}")).status_code == 404
    again = await pending(app, scopes=["openid"])
    resp = await b.get(f"/{app.id}/login", params={"request": again})
    assert resp.status_code == 303 and "/consent?" in resp.headers["Location"]
