"""The authn service: users, credentials, SSO sessions, consents; hosted sign-in pages.

Routes: the users admin API (``/admin/users...``, :mod:`.admin`), the hosted pages
(``/{application}/login``, ``/{application}/consent``, :mod:`.pages`). Worker: a consumer of the
token service's tenant events (:mod:`.consumers`). See docs/authn.md.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.runtime import Resources, ServiceSpec

from . import admin, events  # noqa: F401 - events registers the event types
from .consumers import SUBJECT, tenant_event
from .handoff import HandOff
from .limits import Limits
from .pages import Pages
from .passwords import Passwords
from .projections import PROJECTIONS
from .repository import Users
from .sessions import Sessions

HERE = Path(__file__).parent


async def setup(app: web.Application, res: Resources) -> None:
    settings = res.settings
    passwords = Passwords(settings.key_encryption_key)

    async def close_passwords() -> None:
        passwords.close()
    res.on_close.append(close_passwords)
    users = Users(res.pool, res.store, passwords)
    app.middlewares.append(admin.admin_json_errors)
    admin.add_routes(app, users)
    pages = Pages(users, passwords, Sessions(res.redis, settings.secret_pepper),
                  Limits(res.redis, settings.secret_pepper), HandOff(res.redis), settings.public_url,
                  settings.secret_pepper)
    app.router.add_routes(pages.routes())
    res.consume("token-tenants", SUBJECT, tenant_event)


SPEC = ServiceSpec(name="authn", migrations=HERE / "migrations", projections=PROJECTIONS, setup=setup)
