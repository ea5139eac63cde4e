"""External tools some tests drive: skipped with the reason on a laptop without them, never in CI."""
from __future__ import annotations

import os
import shutil

import pytest


def missing(reason: str) -> None:
    """Skip with ``reason`` on a laptop; fail with it under ``CI=true``, where nothing may be missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_tool(name: str, install_hint: str, *candidates: str) -> str:
    """The path of ``name``; without it, skip (or fail under ``CI=true``) saying how to install it."""
    path = shutil.which(name) or next((c for c in candidates if os.path.exists(c)), None)
    if path is None:
        missing(f"{name} is not installed ({install_hint}; `make test` installs it where apt is available)")
    return path
