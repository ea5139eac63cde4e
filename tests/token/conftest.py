"""The token tests use the suite-wide fixtures (``suite``, ``admin``, ``make_app``) defined in the root
``tests/conftest.py`` from ``tests/support/fixtures.py``; the code-flow tests add a browser."""
from __future__ import annotations

import pytest

from tests.token.code_flow import Browser


@pytest.fixture
async def browser(suite, servers):
    """A user agent that also plays authn's part of the hand-off (ADR 0005)."""
    b = Browser(suite, servers["TESSERA_REDIS_URL"])
    yield b
    await b.close()
