"""The token service: tenants, applications, clients, grants; the OAuth 2.0 endpoints."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.runtime import Resources, ServiceSpec


async def setup(app: web.Application, res: Resources) -> None:
    """Routes and workers of the service."""


SPEC = ServiceSpec(name="token", migrations=Path(__file__).parent / "migrations", projections=(), setup=setup)
