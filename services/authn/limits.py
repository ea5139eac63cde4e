"""Brute-force limits of the login form, counted in Redis.

Failed attempts are counted per tenant and account name (the HMAC of its lower-cased form, so
unknown accounts are limited exactly like known ones and Redis holds no account names) and per
client IP. Each failure restarts its counter's window. At ``ACCOUNT_MAX`` failures an account
name is locked for ``WINDOW`` seconds after the last one; an IP at ``IP_MAX``. A locked attempt
is refused before any password is verified, with the time left (``Retry-After``). A successful
sign-in clears the account's counter (not the IP's).
"""
from __future__ import annotations

import hashlib
import hmac

import redis.asyncio as aioredis

ACCOUNT_MAX = 5
IP_MAX = 50
WINDOW = 15 * 60


class Limits:
    def __init__(self, redis: aioredis.Redis, pepper: bytes, *, account_max: int = ACCOUNT_MAX,
                 ip_max: int = IP_MAX, window: int = WINDOW) -> None:
        self.redis = redis
        self.key = hmac.new(pepper, b"tessera-authn-limits", hashlib.sha256).digest()
        self.account_max, self.ip_max, self.window = account_max, ip_max, window

    def _digest(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:40]

    def _keys(self, tenant_id: str, account: str, ip: str) -> tuple[str, str]:
        return (f"tessera:authn:fail:account:{tenant_id}:{self._digest(account.strip().lower())}",
                f"tessera:authn:fail:ip:{self._digest(ip)}")

    async def wait(self, tenant_id: str, account: str, ip: str) -> int:
        """Seconds until an attempt is allowed (0: allowed now)."""
        account_key, ip_key = self._keys(tenant_id, account, ip)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(account_key)
        pipe.pttl(account_key)
        pipe.get(ip_key)
        pipe.pttl(ip_key)
        account_count, account_ttl, ip_count, ip_ttl = await pipe.execute()
        waits = [0]
        if account_count is not None and int(account_count) >= self.account_max:
            waits.append(account_ttl)
        if ip_count is not None and int(ip_count) >= self.ip_max:
            waits.append(ip_ttl)
        longest = max(waits)
        return 0 if longest <= 0 else -(-longest // 1000)

    async def failed(self, tenant_id: str, account: str, ip: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for key in self._keys(tenant_id, account, ip):
            pipe.incr(key)
            pipe.expire(key, self.window)
        await pipe.execute()

    async def succeeded(self, tenant_id: str, account: str, ip: str) -> None:
        await self.redis.delete(self._keys(tenant_id, account, ip)[0])
