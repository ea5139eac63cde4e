"""The benchmark's users: the same names, password and argon2id parameters on both sides.

One argon2id hash (PHC string, m=19456 KiB, t=2, p=1: OWASP's first choice, what Tessera's
authn uses) is computed once with argon2-cffi and given to every user, so loading a million
users costs no hashing; verifying a password at sign-in costs the same on both sides (both
bind the reference libargon2: argon2-cffi in Tessera, npm ``argon2`` in the peer).

* Tessera: ``POST /admin/users/import`` on authn (up to 1,000 users a call, the hash given as
  ``password_hash``), a few calls in flight (bench/tessera_suite.py).
* The peer: its user store is its Redis (bench/peer/peer.mjs): ``user:login:{username}`` a hash
  {sub, hash}, ``user:account:{sub}`` the JSON of the claims; written here with pipelined
  commands, 1,000 users a round trip.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence

from argon2 import PasswordHasher

PASSWORD = "correct horse battery staple"
ARGON2 = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
BATCH = 1_000


def password_hash(password: str = PASSWORD) -> str:
    return PasswordHasher(**ARGON2).hash(password)


def username(i: int) -> str:
    return f"user{i:07d}"


def claims(i: int) -> dict:
    return {"name": f"Bench User {i}", "given_name": "Bench", "family_name": f"User {i}",
            "preferred_username": username(i), "email": f"{username(i)}@bench.example", "email_verified": True}


class Credentials(Sequence):
    """(username, password) of the users of a range, made when asked (a million would not fit
    a list cheaply); what the sign-in driver picks from."""

    def __init__(self, indices: range) -> None:
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return username(self.indices[i]), PASSWORD


def credentials(indices: range) -> Credentials:
    return Credentials(indices)


def load_peer(redis_url: str, start: int, stop: int, hashed: str) -> float:
    """Users ``start`` … ``stop - 1`` into the peer's store; seconds it took."""
    import redis
    started = time.monotonic()
    client = redis.Redis.from_url(redis_url)
    try:
        for first in range(start, stop, BATCH):
            pipe = client.pipeline(transaction=False)
            for i in range(first, min(stop, first + BATCH)):
                sub = str(uuid.UUID(int=i + 1, version=4))
                pipe.hset(f"user:login:{username(i)}", mapping={"sub": sub, "hash": hashed})
                pipe.set(f"user:account:{sub}", json.dumps(claims(i)))
            pipe.execute()
    finally:
        client.close()
    return time.monotonic() - started
