"""Sealing small secrets at rest: AES-256-GCM under the key encryption key (KEK).

``seal(kek, aad, plaintext) -> (nonce, ciphertext)`` encrypts with a fresh random 96-bit nonce
(NIST SP 800-38D) and binds the result to ``aad`` (associated data, e.g. the owner's id): the
ciphertext moved to another owner, opened under another KEK, or altered by one bit does not
open, and :func:`unseal` raises :class:`SealError`. Nothing here logs or keeps what it handles.
"""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32


class SealError(Exception):
    """Sealed bytes do not open: wrong KEK, wrong associated data, or tampered bytes."""


def _aead(kek: bytes) -> AESGCM:
    if not isinstance(kek, bytes) or len(kek) != KEY_BYTES:
        raise ValueError("the key encryption key must be 32 bytes (AES-256)")
    return AESGCM(kek)


def seal(kek: bytes, aad: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """``(nonce, ciphertext)``: ``plaintext`` encrypted under ``kek``, bound to ``aad``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, _aead(kek).encrypt(nonce, plaintext, aad)


def unseal(kek: bytes, aad: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    """The plaintext sealed with ``aad`` under ``kek``; :class:`SealError` if it does not open."""
    if len(nonce) != NONCE_BYTES:
        raise SealError("the nonce must be 12 bytes")
    try:
        return _aead(kek).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise SealError("the sealed value does not open: wrong key encryption key, wrong associated "
                        "data, or altered bytes") from None


def b64(data: bytes) -> str:
    """URL-safe base64 without padding (how sealed values travel in JSON)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
