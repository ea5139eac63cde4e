"""The keys service: signing keys per application, their lifecycle; ``{issuer}/jwks.json``."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.runtime import Resources, ServiceSpec


async def setup(app: web.Application, res: Resources) -> None:
    """Routes and workers of the service."""


SPEC = ServiceSpec(name="keys", migrations=Path(__file__).parent / "migrations", projections=(), setup=setup)
