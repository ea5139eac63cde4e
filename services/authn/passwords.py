"""User passwords: policy, argon2id hashing, PHC checks of imported hashes, sealing at rest.

* **Policy**: 8 to 256 characters (NIST SP 800-63B §5.1.1.2: at least 8, allow at least 64; no
  composition rules). Counted in Unicode code points after NFC normalisation, which is also
  what is hashed, so a password typed on another keyboard still matches.
* **Hash**: argon2id with at least OWASP's minimum parameters (m = 19456 KiB, t = 2, p = 1),
  16-byte salt, 32-byte tag, in PHC string format. A hash made with other parameters (an import,
  or older settings) still verifies, and is recomputed at the next successful sign-in.
* **Never on the event loop**: hashing and verifying take tens of milliseconds and 19 MiB each,
  so they run in a bounded thread pool (argon2-cffi releases the GIL): at most ``workers`` at a
  time, so memory stays bounded under a burst of sign-ins.
* **No user enumeration by timing**: an unknown account is verified against a dummy hash.
* **At rest**: the PHC string is sealed with AES-256-GCM under the key-encryption key, the user
  id as associated data (:mod:`shared.sealing`), and travels in events only in that form.
"""
from __future__ import annotations

import asyncio
import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Mapping

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared import sealing

from .domain.errors import fail

MIN_LENGTH = 8
MAX_LENGTH = 256
TIME_COST = 2
MEMORY_COST = 19456          # KiB (19 MiB)
PARALLELISM = 1
# Imported hashes: anything weaker than this is refused; anything costlier than the caps would
# let one sign-in tie up a server (it is rehashed to the current parameters at sign-in anyway).
PHC = re.compile(r"^\$argon2id\$v=19\$m=([0-9]{1,8}),t=([0-9]{1,3}),p=([0-9]{1,3})"
                 r"\$([A-Za-z0-9+/]{11,88})\$([A-Za-z0-9+/]{22,172})$")
IMPORT_LIMITS = {"m": (7168, 262144), "t": (1, 10), "p": (1, 8)}
MAX_PHC = 320


def normalise(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def check_policy(password: Any) -> str:
    """The password to hash, or ``invalid_request`` naming the rule it breaks (never the value)."""
    if not isinstance(password, str):
        raise fail("password must be a string")
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        raise fail(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise fail(f"password must be at most {MAX_LENGTH} characters")
    if "\x00" in password:
        raise fail("password must not contain NUL characters")
    return password


def check_phc(value: Any) -> str:
    """An imported hash: an argon2id PHC string (version 19) with parameters in bounds."""
    if not isinstance(value, str) or len(value) > MAX_PHC:
        raise fail("password_hash must be an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
    match = PHC.match(value)
    if match is None:
        raise fail("password_hash must be an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
    for name, raw in zip("mtp", match.groups()[:3]):
        low, high = IMPORT_LIMITS[name]
        if not low <= int(raw) <= high:
            raise fail(f"password_hash parameter {name} must be between {low} and {high}")
    return value


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    needs_rehash: bool = False


class Passwords:
    """Hashes, verifies and seals passwords; one per process."""

    def __init__(self, kek: bytes, *, workers: int | None = None) -> None:
        self.kek = kek
        self.hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST, parallelism=PARALLELISM,
                                     hash_len=32, salt_len=16, type=Type.ID)
        self.executor = ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2),
                                           thread_name_prefix="argon2")
        self._dummy = self.hasher.hash(os.urandom(24).hex())

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def hash(self, password: str) -> str:
        """The PHC string of ``password`` (already through :func:`check_policy`)."""
        return await self._run(self.hasher.hash, password)

    def _verify(self, phc: str, password: str) -> Verdict:
        try:
            self.hasher.verify(phc, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verdict(False)
        return Verdict(True, self.hasher.check_needs_rehash(phc))

    async def verify(self, phc: str | None, password: str) -> Verdict:
        """Whether ``password`` matches; with no hash (unknown user), a dummy verification first."""
        password = normalise(password)[:MAX_LENGTH + 1]
        if phc is None:
            await self._run(self._verify, self._dummy, password)
            return Verdict(False)
        return await self._run(self._verify, phc, password)

    # Sealing -------------------------------------------------------------------------------------
    def seal(self, user_id: str, phc: str) -> dict[str, str]:
        nonce, ciphertext = sealing.seal(self.kek, user_id.encode(), phc.encode())
        return {"nonce": sealing.b64(nonce), "ciphertext": sealing.b64(ciphertext)}

    def unseal(self, user_id: str, sealed: Mapping[str, str] | None) -> str | None:
        """The PHC string, or None for no password; :class:`shared.sealing.SealError` on a wrong KEK."""
        if not sealed:
            return None
        return sealing.unseal(self.kek, user_id.encode(), sealing.unb64(sealed["nonce"]),
                              sealing.unb64(sealed["ciphertext"])).decode()
