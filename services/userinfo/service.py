"""The userinfo service: a read model of user claims built from authn's events; ``/userinfo``."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.runtime import Resources, ServiceSpec


async def setup(app: web.Application, res: Resources) -> None:
    """Routes and workers of the service (``/userinfo`` arrives with the code-flow issue)."""


SPEC = ServiceSpec(name="userinfo", migrations=Path(__file__).parent / "migrations", projections=(), setup=setup)
