"""Tessera's hosted login and consent pages in a real headless Chromium (Playwright).

The relying party is a small aiohttp server on loopback that records the URL each redirect
brought the browser to (Playwright's routing does not see the targets of redirects); Authlib
then redeems the code, as a relying party would.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from aiohttp import web

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.support.signin import OIDC_SCOPES, make_rp, make_user
from tests.support.tools import missing, require_tool

from .conftest import get_json


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_tool("chromium", "install Debian's chromium package", "/usr/bin/chromium")


@pytest.fixture
async def browser(chromium):
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright Python package is missing (`make install` installs the test extras)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True,
                                           args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        await browser.close()


@pytest.fixture
async def relying_party():
    """(redirect URI, the URLs the browser arrived at) of a callback server on a free port."""
    arrived: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        arrived.append(str(request.url))
        return web.Response(text="<p>signed in</p>", content_type="text/html")

    server = web.Application()
    server.router.add_get("/callback", callback)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/callback", arrived
    await runner.cleanup()


async def test_sign_in_and_consent_in_chromium_then_sso(browser, relying_party, make_app, admin):
    redirect_uri, arrived = relying_party
    app = await make_app(scopes=OIDC_SCOPES)
    user = await make_user(admin, app.tenant)
    rp = await make_rp(admin, app, redirect_uri=redirect_uri)
    meta = await get_json(f"{app.issuer}/.well-known/openid-configuration")
    verifier = generate_token(48)
    rp_client = AsyncOAuth2Client(rp.client_id, rp.client_secret, redirect_uri=rp.redirect_uri,
                                  scope="openid profile email", code_challenge_method="S256", timeout=30)
    url, state = rp_client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)

    context = await browser.new_context()
    page = await context.new_page()

    await page.goto(url)
    assert "/login" in page.url
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", "not the password")
    await page.click("[type=submit]")
    assert "/login" in page.url and not arrived              # a wrong password: the form again
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", user.password)
    await page.click("[type=submit]")
    await page.wait_for_url("**/consent**")
    assert "openid" in await page.content() or "profile" in await page.content()
    await page.click("button[value=allow]")
    await page.wait_for_url(f"{redirect_uri}**")
    query = parse_qs(urlsplit(arrived[-1]).query)
    assert query["state"] == [state] and query["iss"] == [app.issuer]

    token = await rp_client.fetch_token(meta["token_endpoint"], authorization_response=arrived[-1],
                                        code_verifier=verifier)
    assert token["token_type"].lower() == "bearer" and token["id_token"]
    await rp_client.aclose()

    # Same browser, same SSO session, consent remembered: straight back to the relying party.
    url, _ = rp_client.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48))
    await page.goto(url)
    await page.wait_for_url(f"{redirect_uri}**")
    assert "code" in parse_qs(urlsplit(arrived[-1]).query) and len(arrived) == 2
    cookies = await context.cookies()
    session = [c for c in cookies if c["httpOnly"]]
    assert session, cookies                                    # the SSO cookie is HttpOnly
    await context.close()
