"""Key generation, RFC 7638 key ids and sealing at rest, without any server."""
import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk as jwcrypto_jwk

from services.keys.crypto import (KeyDecryptionError, Sealed, SigningKey, generate, seal, thumbprint,
                                  unseal)

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
ALGS = ("RS256", "ES256", "EdDSA")


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _rfc7638(jwk: dict) -> str:
    """RFC 7638 §3, written out again independently of the code under test."""
    required = {"RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"], "OKP": ["crv", "kty", "x"]}
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ALGS)
def test_sealed_private_key_opens_with_the_same_kek(alg):
    kek = os.urandom(32)
    key = generate(alg)
    sealed = seal(kek, key)
    assert len(sealed.nonce) == 12
    assert unseal(kek, key.kid, sealed) == key.private_jwk


def test_each_seal_uses_a_fresh_nonce():
    kek, key = os.urandom(32), generate("ES256")
    first, second = seal(kek, key), seal(kek, key)
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


def test_wrong_kek_fails_with_a_clear_error():
    key = generate("ES256")
    sealed = seal(os.urandom(32), key)
    with pytest.raises(KeyDecryptionError, match="wrong key encryption key"):
        unseal(os.urandom(32), key.kid, sealed)


def test_ciphertext_is_bound_to_its_kid():
    kek = os.urandom(32)
    key, other = generate("ES256"), generate("ES256")
    with pytest.raises(KeyDecryptionError):
        unseal(kek, other.kid, seal(kek, key))


def test_tampered_ciphertext_fails():
    kek, key = os.urandom(32), generate("EdDSA")
    sealed = seal(kek, key)
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(KeyDecryptionError):
        unseal(kek, key.kid, Sealed(sealed.nonce, flipped))


def test_sealed_bytes_do_not_hold_the_private_key():
    kek, key = os.urandom(32), generate("RS256")
    sealed = seal(kek, key)
    d = key.private_jwk["d"]
    raw_d = base64.urlsafe_b64decode(d + "=" * (-len(d) % 4))
    assert d.encode() not in sealed.ciphertext and raw_d not in sealed.ciphertext


@pytest.mark.parametrize("alg", ALGS)
def test_kid_is_the_rfc7638_thumbprint(alg):
    key = generate(alg)
    assert key.kid == _rfc7638(key.public_jwk) == thumbprint(key.private_jwk)
    assert key.kid == jwcrypto_jwk.JWK(**key.public_jwk).thumbprint()


def test_rfc7638_example_thumbprint():
    """The worked example of RFC 7638 §3.1."""
    example = {
        "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
             "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvz"
             "qY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZ"
             "u0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_kids_are_distinct():
    kids = [generate(alg).kid for alg in ALGS for _ in range(3)]
    assert len(set(kids)) == len(kids)


@pytest.mark.parametrize("alg", ALGS)
def test_public_jwk_holds_public_members_only(alg):
    key = generate(alg)
    assert not PRIVATE_MEMBERS & set(key.public_jwk)
    assert key.public_jwk["use"] == "sig" and key.public_jwk["alg"] == alg
    assert key.public_jwk["kid"] == key.kid
    assert "d" in key.private_jwk and key.private_jwk["kid"] == key.kid


def test_rsa_keys_have_2048_bits_and_exponent_65537():
    key = generate("RS256")
    public = jwcrypto_jwk.JWK(**key.public_jwk).get_op_key("verify")
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size >= 2048
    assert _b64url_int(key.public_jwk["e"]) == 65537


def test_curves_are_p256_and_ed25519():
    es = jwcrypto_jwk.JWK(**generate("ES256").public_jwk).get_op_key("verify")
    ed = jwcrypto_jwk.JWK(**generate("EdDSA").public_jwk).get_op_key("verify")
    assert isinstance(es, ec.EllipticCurvePublicKey) and isinstance(es.curve, ec.SECP256R1)
    assert isinstance(ed, ed25519.Ed25519PublicKey)


def test_unknown_algorithm_is_refused():
    with pytest.raises(ValueError):
        generate("HS256")


def test_repr_hides_the_private_key():
    key = generate("ES256")
    assert key.private_jwk["d"] not in repr(key) and isinstance(key, SigningKey)
