"""Signing keys, pure: generation, RFC 7638 key ids, and sealing at rest.

* Algorithms (RFC 7518 §3.1): ``RS256`` (RSA 2048 bits, e = 65537; §3.3 asks for at least
  2048), ``ES256`` (P-256, §3.4) and ``EdDSA`` (Ed25519, RFC 8037).
* ``kid`` is the RFC 7638 JWK thumbprint: SHA-256 over the required public members, base64url.
  It depends on the public key only, so it is stable, and distinct keys get distinct kids.
* The public JWK (RFC 7517 §4) holds only public members, plus ``kid``, ``alg``, ``use: sig``.
* The private JWK (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2) is sealed with AES-256-GCM under the
  key encryption key (KEK), a random 96-bit nonce and associated data = kid, so ciphertext
  moved to another kid's row, or opened with another KEK, fails with
  :class:`KeyDecryptionError`.

No I/O here: the vault (:mod:`services.keys.vault`) stores what this module seals.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwcrypto.jwk import JWK

Jwk = dict[str, Any]

# alg -> how jwcrypto generates its key (RFC 7518 §3.1, RFC 8037 §3.1).
GENERATORS: dict[str, dict[str, Any]] = {
    "RS256": {"kty": "RSA", "size": 2048, "public_exponent": 65537},
    "ES256": {"kty": "EC", "crv": "P-256"},
    "EdDSA": {"kty": "OKP", "crv": "Ed25519"},
}
# RFC 7638 §3.2: the required public members of each key type, which are the whole public key.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
NONCE_BYTES = 12  # 96 bits, the GCM nonce size NIST SP 800-38D recommends


class KeyDecryptionError(Exception):
    """Sealed key material does not open: wrong KEK, wrong kid, or tampered bytes."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: Jwk
    private_jwk: Jwk

    def __repr__(self) -> str:  # never print the private part
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True, slots=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: Jwk) -> str:
    """RFC 7638 §3.1: SHA-256 of the required members, sorted, no whitespace; base64url."""
    members = REQUIRED_MEMBERS[jwk["kty"]]
    canonical = orjson.dumps({name: jwk[name] for name in members}, option=orjson.OPT_SORT_KEYS)
    return b64url(hashlib.sha256(canonical).digest())


def generate(alg: str) -> SigningKey:
    """A new key pair for ``alg`` (one of :data:`GENERATORS`)."""
    try:
        params = GENERATORS[alg]
    except KeyError:
        raise ValueError(f"unsupported signing algorithm {alg!r}") from None
    key = JWK.generate(**params)
    private = key.export_private(as_dict=True)
    public = {name: private[name] for name in REQUIRED_MEMBERS[private["kty"]]}
    kid = thumbprint(public)
    labels = {"kid": kid, "alg": alg, "use": "sig"}
    return SigningKey(kid, alg, {**public, **labels}, {**private, **labels})


def _aead(kek: bytes) -> AESGCM:
    if len(kek) != 32:
        raise ValueError("the key encryption key must be 32 bytes (AES-256)")
    return AESGCM(kek)


def seal(kek: bytes, key: SigningKey) -> Sealed:
    """Encrypt the private JWK under ``kek`` with a fresh random nonce, bound to the kid."""
    nonce = os.urandom(NONCE_BYTES)
    plaintext = orjson.dumps(key.private_jwk, option=orjson.OPT_SORT_KEYS)
    return Sealed(nonce, _aead(kek).encrypt(nonce, plaintext, key.kid.encode()))


def unseal(kek: bytes, kid: str, sealed: Sealed) -> Jwk:
    """The private JWK sealed for ``kid``; :class:`KeyDecryptionError` if it does not open."""
    try:
        plaintext = _aead(kek).decrypt(sealed.nonce, sealed.ciphertext, kid.encode())
    except InvalidTag:
        raise KeyDecryptionError(
            f"the key material of kid {kid} does not decrypt: wrong key encryption key "
            "or altered ciphertext") from None
    return orjson.loads(plaintext)
