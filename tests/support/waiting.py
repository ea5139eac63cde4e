"""Waiting for what the suite does asynchronously (an event reaching a read model or a replica)."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 60.0, every: float = 0.1) -> bool:
    """Whether ``predicate`` comes true within ``timeout`` seconds (a bound on propagation, not speed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(every)
    return await predicate()
