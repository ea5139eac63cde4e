"""JWS compact serialisation (RFC 7515) for the algorithms Tessera signs with: RS256, ES256, EdDSA.

Built on ``cryptography`` directly: a key is parsed once (:class:`SigningKey`,
:class:`VerificationKeys`) and a token costs one signature plus two orjson calls. Time and
claim checks are separate (:func:`validate_claims`) so a caller states which ones apply.

What :func:`verify` refuses, whatever the caller allows: ``alg: none`` and any ``crit`` header
(we understand no extension, RFC 7515 §4.1.11), RSA keys under 2048 bits (RFC 7518 §3.3).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
_KTY_FOR_ALG = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
_MIN_RSA_BITS = 2048
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_ES256_COORD = 32


# ---------------------------------------------------------------- errors

class JWSError(Exception):
    """A token was refused. The message says why, and never quotes the token."""


class MalformedTokenError(JWSError):
    """Not a JWS compact serialisation, or its header or payload is not a JSON object."""


class AlgorithmNotAllowedError(JWSError):
    """``alg`` is ``none``, unknown, or not among the algorithms the caller accepts."""


class UnknownKeyError(JWSError):
    """No key in the set has the token's ``kid`` (callers may re-fetch a JWKS and retry)."""

    def __init__(self, message: str, kid: str | None = None) -> None:
        super().__init__(message)
        self.kid = kid


class BadSignatureError(JWSError):
    """The signature does not verify under the key the header names."""


class WrongTypeError(JWSError):
    """The ``typ`` header is not the one the caller expects (RFC 8725 §3.11)."""


class InvalidClaimsError(JWSError):
    """A registered claim (``exp``, ``nbf``, ``iat``, ``iss``, ``aud``) is missing or wrong."""


class ExpiredTokenError(InvalidClaimsError):
    """``exp`` is in the past (beyond the leeway)."""


class NotYetValidError(InvalidClaimsError):
    """``nbf`` or ``iat`` is in the future (beyond the leeway)."""


# ---------------------------------------------------------------- base64url

def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str) -> bytes:
    """Strict base64url without padding; raises :class:`MalformedTokenError`."""
    if not _B64URL.match(data) or len(data) % 4 == 1:
        raise MalformedTokenError("invalid base64url")
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedTokenError("invalid base64url") from exc


def _int(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("JWK member is not a string")
    return int.from_bytes(b64url_decode(value), "big")


def _bytes_of(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


# ---------------------------------------------------------------- signing

class SigningKey:
    """A private key ready to sign: parsed once, its encoded headers cached per ``typ``."""

    __slots__ = ("kid", "alg", "_key", "_headers")

    def __init__(self, kid: str, alg: str, key: Any) -> None:
        self.kid = kid
        self.alg = alg
        self._key = key
        self._headers: dict[str | None, bytes] = {}

    @classmethod
    def from_jwk(cls, private_jwk: Mapping[str, Any]) -> SigningKey:
        """RSA → RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA. ``kid`` is required."""
        kid = private_jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("signing JWK has no kid")
        alg, key = _private_key(private_jwk)
        declared = private_jwk.get("alg")
        if declared is not None and declared != alg:
            raise ValueError(f"JWK alg {declared!r} does not fit its key type ({alg})")
        return cls(kid, alg, key)

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (what a JWKS publishes)."""
        jwk = _public_jwk(self._key.public_key())
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def sign(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """The compact JWS of ``claims``; the header gets this key's ``alg`` and ``kid``."""
        if "alg" in header or "kid" in header:
            raise ValueError("alg and kid come from the signing key")
        signing_input = self._encoded_header(header) + b"." + base64.urlsafe_b64encode(
            orjson.dumps(claims)).rstrip(b"=")
        signature = _sign(self.alg, self._key, signing_input)
        return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode("ascii")

    async def sign_async(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """:meth:`sign`, off the event loop when it is slow.

        An RS256 signature costs 0.25–0.7 ms of CPU (here), during which OpenSSL holds no GIL:
        signed in a worker thread, it no longer stalls every other request of the process, and
        it runs on another core. ES256 and EdDSA (tens of µs) sign in place: a thread hand-off
        would cost as much as the signature. So does RS256 when the process may use one core
        only (``taskset``, a cpuset): a hand-off onto the same core adds a thread switch and
        gains nothing.
        """
        signers = _signers() if self.alg == "RS256" else None
        if signers is None:
            return self.sign(header, claims)
        return await asyncio.get_running_loop().run_in_executor(signers, self.sign, header, claims)

    def _encoded_header(self, header: Mapping[str, Any]) -> bytes:
        cacheable = header.keys() <= {"typ"}
        typ = header.get("typ")
        if cacheable and typ in self._headers:
            return self._headers[typ]
        encoded = base64.urlsafe_b64encode(
            orjson.dumps({"alg": self.alg, "kid": self.kid, **header})).rstrip(b"=")
        if cacheable:
            self._headers[typ] = encoded
        return encoded


_SIGNERS: ThreadPoolExecutor | None = None


def _signers() -> ThreadPoolExecutor | None:
    """The threads RSA signatures run on: one per usable core; none when there is only one."""
    global _SIGNERS
    cores = usable_cores()
    if cores < 2:
        return None
    if _SIGNERS is None:
        _SIGNERS = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="jws-sign")
    return _SIGNERS


@functools.cache
def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: taskset, a cgroup cpuset), not the host's.

    Read once (not a system call per signature); the affinity is set before the process starts."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # no sched_getaffinity on this platform
        return os.cpu_count() or 1


def _private_key(jwk: Mapping[str, Any]) -> tuple[str, Any]:
    kty = jwk.get("kty")
    try:
        if kty == "RSA":
            return "RS256", _rsa_private(jwk)
        if kty == "EC" and jwk.get("crv") == "P-256":
            public = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1())
            return "ES256", ec.EllipticCurvePrivateNumbers(_int(jwk["d"]), public).private_key()
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            key = ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(jwk["d"]))
            if _public_jwk(key.public_key())["x"] != jwk.get("x"):
                raise ValueError("Ed25519 JWK: x does not match d")
            return "EdDSA", key
    except (KeyError, MalformedTokenError) as exc:
        raise ValueError(f"malformed {kty} private JWK") from exc
    raise ValueError(f"unsupported JWK key type {kty!r} / curve {jwk.get('crv')!r}")


def _rsa_private(jwk: Mapping[str, Any]) -> rsa.RSAPrivateKey:
    n, e, d = _int(jwk["n"]), _int(jwk["e"]), _int(jwk["d"])
    if n.bit_length() < _MIN_RSA_BITS:
        raise ValueError(f"RSA key under {_MIN_RSA_BITS} bits")
    if "p" in jwk:
        p, q = _int(jwk["p"]), _int(jwk["q"])
        dp, dq, qi = _int(jwk["dp"]), _int(jwk["dq"]), _int(jwk["qi"])
    else:
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
        dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n)).private_key()


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _sign(alg: str, key: Any, data: bytes) -> bytes:
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, _ECDSA_SHA256))
        return _bytes_of(r, _ES256_COORD) + _bytes_of(s, _ES256_COORD)   # RFC 7518 §3.4: R || S
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def _public_jwk(key: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": b64url_encode(_bytes_of(numbers.n, (numbers.n.bit_length() + 7) // 8)),
                "e": b64url_encode(_bytes_of(numbers.e, (numbers.e.bit_length() + 7) // 8))}
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64url_encode(_bytes_of(numbers.x, _ES256_COORD)),
                "y": b64url_encode(_bytes_of(numbers.y, _ES256_COORD))}
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


# ---------------------------------------------------------------- verification

@dataclass(frozen=True, slots=True)
class _PublicKey:
    kid: str | None
    alg: str            # the algorithm this key verifies (from its kty/crv, or its own "alg")
    key: Any


class VerificationKeys:
    """Public keys by ``kid``, parsed once from a JWKS.

    Keys Tessera cannot use for signatures (``use: enc``, other key types or curves, RSA
    under 2048 bits, malformed members) are skipped rather than failing the whole set: a
    client's JWKS may legitimately carry them.
    """

    __slots__ = ("_by_kid",)

    def __init__(self, keys: Iterable[_PublicKey]) -> None:
        self._by_kid: dict[str | None, list[_PublicKey]] = {}
        for key in keys:
            self._by_kid.setdefault(key.kid, []).append(key)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> VerificationKeys:
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list):
            raise ValueError("a JWKS is an object with a 'keys' array")
        return cls(filter(None, (_parse_public(jwk) for jwk in keys)))

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def __len__(self) -> int:
        return sum(len(keys) for keys in self._by_kid.values())

    def find(self, kid: str | None, alg: str) -> Any:
        """The key object for ``kid`` and ``alg``; without a ``kid``, the set's only key for ``alg``."""
        if kid is None:
            candidates = [k for keys in self._by_kid.values() for k in keys if k.alg == alg]
            if len(candidates) != 1:
                raise UnknownKeyError("token has no kid and the key set does not single out one key")
            return candidates[0].key
        for key in self._by_kid.get(kid, ()):
            if key.alg == alg:
                return key.key
        raise UnknownKeyError(f"no {alg} key with kid {kid!r}", kid)


def _parse_public(jwk: Any) -> _PublicKey | None:
    if not isinstance(jwk, Mapping) or jwk.get("use", "sig") != "sig":
        return None
    kid = jwk.get("kid")
    kty = jwk.get("kty")
    try:
        if kty == "RSA":
            numbers = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"]))
            if numbers.n.bit_length() < _MIN_RSA_BITS:
                return None
            alg, key = "RS256", numbers.public_key()
        elif kty == "EC" and jwk.get("crv") == "P-256":
            alg, key = "ES256", ec.EllipticCurvePublicNumbers(
                _int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()).public_key()
        elif kty == "OKP" and jwk.get("crv") == "Ed25519":
            alg, key = "EdDSA", ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
        else:
            return None
    except (KeyError, ValueError, MalformedTokenError):
        return None
    if jwk.get("alg", alg) != alg or (kid is not None and not isinstance(kid, str)):
        return None
    return _PublicKey(kid, alg, key)


def peek_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, unverified: only to choose the key to verify with."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise MalformedTokenError("not a JWS compact serialisation")
    return _json_object(b64url_decode(token.split(".", 1)[0]), "header")


def verify(token: str, keys: VerificationKeys, *, algorithms: Iterable[str],
           typ: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a compact JWS's form, ``alg``, ``typ`` and signature; return ``(header, claims)``.

    ``typ`` is compared without case and without an ``application/`` prefix (RFC 7515 §4.1.9),
    so ``at+jwt`` accepts ``application/at+jwt`` (RFC 9068 §4). Claims are not validated here.
    """
    allowed = frozenset(algorithms)
    if not allowed <= ALGORITHMS:
        raise ValueError(f"unsupported algorithms: {sorted(allowed - ALGORITHMS)}")
    if not isinstance(token, str) or token.count(".") != 2:
        raise MalformedTokenError("not a JWS compact serialisation")
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = _json_object(b64url_decode(header_b64), "header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedTokenError("header has no alg")
    if alg.lower() == "none":
        raise AlgorithmNotAllowedError("unsigned tokens (alg none) are refused")
    if alg not in allowed:
        raise AlgorithmNotAllowedError(f"alg {alg!r} is not allowed here")
    if "crit" in header:
        raise MalformedTokenError("critical header extensions are not supported")
    if typ is not None and _media_type(header.get("typ")) != _media_type(typ):
        raise WrongTypeError(f"typ must be {typ!r}")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedTokenError("kid is not a string")
    key = keys.find(kid, alg)
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    if not _verified(alg, key, signing_input, b64url_decode(signature_b64)):
        raise BadSignatureError("signature does not verify")
    return header, _json_object(b64url_decode(payload_b64), "payload")


def _verified(alg: str, key: Any, data: bytes, signature: bytes) -> bool:
    try:
        if alg == "ES256":
            if len(signature) != 2 * _ES256_COORD:
                return False
            r = int.from_bytes(signature[:_ES256_COORD], "big")
            s = int.from_bytes(signature[_ES256_COORD:], "big")
            key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
        elif alg == "RS256":
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedTokenError(f"{part} is not JSON") from exc
    if not isinstance(value, dict):
        raise MalformedTokenError(f"{part} is not a JSON object")
    return value


def _media_type(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.lower()
    return value[len("application/"):] if value.startswith("application/") else value


# ---------------------------------------------------------------- claims

def validate_claims(claims: Mapping[str, Any], *, issuer: str, audience: str | None = None,
                    now: float | datetime | None = None, leeway: int = 30) -> None:
    """Check ``iss`` (exact), ``exp`` (required), ``nbf`` and ``iat`` (when present), ``aud``.

    ``aud`` is checked only when ``audience`` is given: it must equal the claim or be one of
    its members (RFC 7519 §4.1.3). Times are NumericDates; ``leeway`` absorbs clock skew.
    """
    at = time.time() if now is None else now.timestamp() if isinstance(now, datetime) else float(now)
    if claims.get("iss") != issuer:
        raise InvalidClaimsError("wrong issuer")
    exp = _numeric_date(claims, "exp", required=True)
    if at >= exp + leeway:
        raise ExpiredTokenError("token expired")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and at + leeway < nbf:
        raise NotYetValidError("token not valid yet (nbf)")
    iat = _numeric_date(claims, "iat")
    if iat is not None and at + leeway < iat:
        raise NotYetValidError("token issued in the future (iat)")
    if audience is not None:
        aud = claims.get("aud")
        members = aud if isinstance(aud, list) else [aud]
        if audience not in members:
            raise InvalidClaimsError("wrong audience")


def _numeric_date(claims: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidClaimsError(f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidClaimsError(f"{name} is not a NumericDate")
    return float(value)
