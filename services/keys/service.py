"""The keys service: signing keys per application, their lifecycle; ``{issuer}/jwks.json``.

At start it refuses to run with a key encryption key that does not open the stored keys:
one ``keys.kek_mismatch`` error line and exit status 2 (a wrong KEK is a start-up error,
never a stream of failing requests).
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.logging import get_logger
from shared.runtime import Resources, ServiceSpec, close_resources

from . import events  # noqa: F401 - registers the signing_key.* event types
from . import vault
from .api import KeysApi, json_errors
from .consumers import SUBJECT, application_events
from .jwks import JwksCache
from .keyring import KeyRing
from .projections import signing_keys

log = get_logger("tessera.keys")
HERE = Path(__file__).parent


async def check_key_encryption_key(res: Resources) -> None:
    """Exit 2 with one clear line when the configured KEK does not open the stored keys."""
    kid = await vault.undecryptable_kid(res.pool, res.settings.key_encryption_key)
    if kid is None:
        return
    log.error("keys.kek_mismatch", kid=kid,
              detail="TESSERA_KEY_ENCRYPTION_KEY does not decrypt the stored signing keys; "
                     "start the keys service with the key they were encrypted with")
    await close_resources(res)
    raise SystemExit(2)


async def setup(app: web.Application, res: Resources) -> None:
    """Routes and workers of the service."""
    await check_key_encryption_key(res)
    keyring = KeyRing(res.store, res.settings.key_encryption_key)
    cache = JwksCache.for_pool(res.pool)
    api = KeysApi(res, keyring, cache, (HERE / "openapi.yaml").read_bytes())
    app.middlewares.append(json_errors)
    app.router.add_routes(api.routes())
    res.consume("token-applications", SUBJECT, application_events(keyring, cache))


SPEC = ServiceSpec(name="keys", migrations=HERE / "migrations", projections=(signing_keys,), setup=setup)
