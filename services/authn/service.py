"""The authn service: users, credentials, SSO sessions, consents; hosted sign-in pages."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.runtime import Resources, ServiceSpec


async def setup(app: web.Application, res: Resources) -> None:
    """Routes and workers of the service (sign-in arrives with the users issue)."""


SPEC = ServiceSpec(name="authn", migrations=Path(__file__).parent / "migrations", projections=(), setup=setup)
