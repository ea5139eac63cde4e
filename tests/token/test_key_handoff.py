"""Key events reach every token process: after a rotation, new tokens carry the new kid."""
import asyncio

from shared import jws

from tests.support.fixtures import client_credentials


async def _kid(url, app):
    resp = await client_credentials(url, app.id, app.client_id, app.client_secret)
    assert resp.status_code == 200, resp.text
    return jws.peek_header(resp.json()["access_token"])["kid"]


async def test_rotation_switches_the_signing_key_of_every_token_process(suite, make_app, admin):
    app = await make_app()
    before = {await _kid(p.url, app) for p in (suite.token, suite.token2)}
    assert len(before) == 1  # both processes sign with the one current ES256 key
    resp = await admin.call("POST", f"/admin/keys/applications/{app.id}/rotate", base=suite.keys.url)
    assert resp.status_code == 200, resp.text
    for proc in (suite.token, suite.token2):
        for _ in range(100):   # the key event arrives over NATS within moments
            kid = await _kid(proc.url, app)
            if kid not in before:
                break
            await asyncio.sleep(0.05)
        assert kid not in before
    # The retired key stays published, so tokens it signed still verify at the issuer.
    async with __import__("httpx").AsyncClient() as http:
        kids = {k["kid"] for k in (await http.get(f"{app.issuer}/jwks.json")).json()["keys"]}
    assert before <= kids and kid in kids
