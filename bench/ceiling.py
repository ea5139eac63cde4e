"""The ceiling: the least a Python token endpoint can do for a client-credentials grant.

One aiohttp app on uvloop. ``POST /{application}/token`` parses the form, checks HTTP Basic
credentials against one fixed client (``hmac.compare_digest``), builds RFC 9068 claims and
signs them ES256 with ``cryptography`` on a key made once at start, and answers the same
RFC 6749 JSON as Tessera. ``GET /{application}/jwks.json`` serves the public key. Nothing else: no
storage, no events, no logging. No Python token endpoint can beat it.

    python -m bench.ceiling PORT CLIENT_ID CLIENT_SECRET
"""
from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import sys
import time

import orjson
import uvloop
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

LIFETIME = 3600
KID = "ceiling-es256"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """ES256 on one cached P-256 key: raw R||S, base64url (RFC 7518 §3.4)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.header = b64url(orjson.dumps({"alg": "ES256", "kid": KID, "typ": "at+jwt"}))
        numbers = self.key.public_key().public_numbers()
        self.jwk = {"kty": "EC", "crv": "P-256", "kid": KID, "alg": "ES256", "use": "sig",
                    "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}

    def sign(self, claims: dict) -> str:
        signing_input = f"{self.header}.{b64url(orjson.dumps(claims))}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def invalid_client() -> web.Response:
    return web.Response(status=401, body=orjson.dumps({"error": "invalid_client"}),
                        content_type="application/json", headers={"WWW-Authenticate": 'Basic realm="ceiling"'})


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        client_id, colon, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return None
    return (client_id, secret) if colon else None


def make_app(client_id: str, client_secret: str) -> web.Application:
    signer = Signer()
    expected = f"{client_id}:{client_secret}".encode()

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is None or not hmac.compare_digest(":".join(credentials).encode(), expected):
            return invalid_client()
        if form.get("grant_type") != "client_credentials":
            return web.Response(status=400, body=orjson.dumps({"error": "unsupported_grant_type"}),
                                content_type="application/json")
        issuer = f"{request.scheme}://{request.host}/{request.match_info['application']}"
        now = int(time.time())
        claims = {"iss": issuer, "sub": client_id, "aud": issuer, "exp": now + LIFETIME, "iat": now,
                  "jti": secrets.token_urlsafe(16), "client_id": client_id}
        body = {"access_token": signer.sign(claims), "token_type": "Bearer", "expires_in": LIFETIME}
        return web.Response(body=orjson.dumps(body), content_type="application/json", headers=NO_STORE)

    async def jwks(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"keys": [signer.jwk]}), content_type="application/json")

    app = web.Application()
    app.router.add_post("/{application}/token", token)
    app.router.add_get("/{application}/jwks.json", jwks)
    return app


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m bench.ceiling PORT CLIENT_ID CLIENT_SECRET", file=sys.stderr)
        return 2
    port, client_id, client_secret = int(argv[0]), argv[1], argv[2]
    uvloop.install()
    web.run_app(make_app(client_id, client_secret), host="127.0.0.1", port=port,
                access_log=None, print=lambda *_: print(f"ceiling ready http://127.0.0.1:{port}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
