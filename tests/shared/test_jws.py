"""shared.jws: compact JWS signing and verification, cross-checked against jwcrypto."""
from __future__ import annotations

import json
import os
import time

import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from shared import jws
from shared.jws import (AlgorithmNotAllowedError, BadSignatureError, ExpiredTokenError, InvalidClaimsError,
                        MalformedTokenError, NotYetValidError, SigningKey, UnknownKeyError, VerificationKeys,
                        WrongTypeError, b64url_decode, b64url_encode, validate_claims, verify)

ALGS = ["RS256", "ES256", "EdDSA"]
_GENERATE = {"RS256": {"kty": "RSA", "size": 2048}, "ES256": {"kty": "EC", "crv": "P-256"},
             "EdDSA": {"kty": "OKP", "crv": "Ed25519"}}
CLAIMS = {"iss": "https://id.example.com/shop", "sub": "c1", "exp": 2_000_000_000, "n": "héllo"}


@pytest.fixture(scope="module")
def jwcrypto_keys() -> dict[str, jc_jwk.JWK]:
    return {alg: jc_jwk.JWK.generate(kid=f"kid-{alg}", **params) for alg, params in _GENERATE.items()}


def private(key: jc_jwk.JWK) -> dict:
    return json.loads(key.export_private())


def public_set(*keys: jc_jwk.JWK) -> VerificationKeys:
    return VerificationKeys.from_jwks({"keys": [json.loads(k.export_public()) for k in keys]})


def segments(token: str) -> list[bytes]:
    return [b64url_decode(part) for part in token.split(".")]


@pytest.mark.parametrize("alg", ALGS)
def test_round_trip_for_each_algorithm(jwcrypto_keys, alg):
    key = SigningKey.from_jwk(private(jwcrypto_keys[alg]))
    assert (key.alg, key.kid) == (alg, f"kid-{alg}")
    token = key.sign({"typ": "at+jwt"}, CLAIMS)
    header, claims = verify(token, public_set(jwcrypto_keys[alg]), algorithms=ALGS, typ="at+jwt")
    assert header == {"alg": alg, "kid": f"kid-{alg}", "typ": "at+jwt"}
    assert claims == CLAIMS


@pytest.mark.parametrize("alg", ALGS)
def test_tokens_signed_here_verify_with_jwcrypto(jwcrypto_keys, alg):
    token = SigningKey.from_jwk(private(jwcrypto_keys[alg])).sign({"typ": "JWT"}, CLAIMS)
    checked = jc_jws.JWS()
    checked.deserialize(token)
    checked.allowed_algs = [alg]
    checked.verify(jc_jwk.JWK(**json.loads(jwcrypto_keys[alg].export_public())))
    assert json.loads(checked.payload) == CLAIMS


@pytest.mark.parametrize("alg", ALGS)
def test_tokens_signed_by_jwcrypto_verify_here(jwcrypto_keys, alg):
    signed = jc_jws.JWS(json.dumps(CLAIMS).encode())
    signed.allowed_algs = [alg]
    signed.add_signature(jwcrypto_keys[alg], alg, protected=json.dumps({"alg": alg, "kid": f"kid-{alg}"}))
    _, claims = verify(signed.serialize(compact=True), public_set(jwcrypto_keys[alg]), algorithms=[alg])
    assert claims == CLAIMS


def test_public_jwk_is_what_jwcrypto_publishes(jwcrypto_keys):
    for key in jwcrypto_keys.values():
        ours = SigningKey.from_jwk(private(key)).public_jwk()
        assert jc_jwk.JWK(**ours).thumbprint() == key.thumbprint()
        assert "d" not in ours


def test_es256_signature_is_raw_r_and_s_of_64_bytes(jwcrypto_keys):
    token = SigningKey.from_jwk(private(jwcrypto_keys["ES256"])).sign({}, CLAIMS)
    assert len(segments(token)[2]) == 64


def test_der_encoded_es256_signature_is_refused(jwcrypto_keys):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    good = SigningKey.from_jwk(private(jwcrypto_keys["ES256"])).sign({}, CLAIMS)
    signing_input = good.rsplit(".", 1)[0].encode()
    der = jwcrypto_keys["ES256"].get_op_key("sign").sign(signing_input, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(BadSignatureError):
        verify(f"{signing_input.decode()}.{b64url_encode(der)}", public_set(jwcrypto_keys["ES256"]),
               algorithms=["ES256"])


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_payload_fails(jwcrypto_keys, alg):
    header, _, signature = SigningKey.from_jwk(private(jwcrypto_keys[alg])).sign({}, CLAIMS).split(".")
    forged = b64url_encode(json.dumps({**CLAIMS, "sub": "admin"}).encode())
    with pytest.raises(BadSignatureError):
        verify(f"{header}.{forged}.{signature}", public_set(jwcrypto_keys[alg]), algorithms=ALGS)


def test_tampered_signature_fails(jwcrypto_keys):
    token = SigningKey.from_jwk(private(jwcrypto_keys["EdDSA"])).sign({}, CLAIMS)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(BadSignatureError):
        verify(flipped, public_set(jwcrypto_keys["EdDSA"]), algorithms=ALGS)


def test_alg_none_is_always_refused(jwcrypto_keys):
    unsigned = b64url_encode(b'{"alg":"none","kid":"kid-ES256"}') + "." + b64url_encode(b'{"sub":"x"}') + "."
    with pytest.raises(AlgorithmNotAllowedError, match="none"):
        verify(unsigned, public_set(jwcrypto_keys["ES256"]), algorithms=ALGS)
    with pytest.raises(ValueError):
        verify(unsigned, public_set(jwcrypto_keys["ES256"]), algorithms=["none"])


def test_alg_outside_the_allowed_list_is_refused(jwcrypto_keys):
    token = SigningKey.from_jwk(private(jwcrypto_keys["RS256"])).sign({}, CLAIMS)
    with pytest.raises(AlgorithmNotAllowedError, match="RS256"):
        verify(token, public_set(jwcrypto_keys["RS256"]), algorithms=["ES256"])


def test_alg_swapped_to_another_key_type_finds_no_key(jwcrypto_keys):
    _, payload, signature = SigningKey.from_jwk(private(jwcrypto_keys["RS256"])).sign({}, CLAIMS).split(".")
    header = b64url_encode(b'{"alg":"ES256","kid":"kid-RS256"}')
    with pytest.raises(UnknownKeyError):
        verify(f"{header}.{payload}.{signature}", public_set(jwcrypto_keys["RS256"]), algorithms=ALGS)


def test_unknown_kid_names_the_kid_so_callers_can_refetch(jwcrypto_keys):
    token = SigningKey.from_jwk(private(jwcrypto_keys["ES256"])).sign({}, CLAIMS)
    with pytest.raises(UnknownKeyError) as caught:
        verify(token, public_set(jwcrypto_keys["RS256"]), algorithms=ALGS)
    assert caught.value.kid == "kid-ES256"


def test_token_without_kid_needs_a_single_candidate_key(jwcrypto_keys):
    key = jwcrypto_keys["ES256"]
    signed = jc_jws.JWS(json.dumps(CLAIMS).encode())
    signed.add_signature(key, "ES256", protected=json.dumps({"alg": "ES256"}))
    token = signed.serialize(compact=True)
    assert verify(token, public_set(key, jwcrypto_keys["RS256"]), algorithms=ALGS)[1] == CLAIMS
    other = jc_jwk.JWK.generate(kty="EC", crv="P-256", kid="another")
    with pytest.raises(UnknownKeyError):
        verify(token, public_set(key, other), algorithms=ALGS)


def test_typ_is_compared_without_case_or_application_prefix(jwcrypto_keys):
    key = SigningKey.from_jwk(private(jwcrypto_keys["ES256"]))
    keys = public_set(jwcrypto_keys["ES256"])
    for sent in ("at+jwt", "application/at+jwt", "AT+JWT"):
        verify(key.sign({"typ": sent}, CLAIMS), keys, algorithms=ALGS, typ="at+jwt")
    for sent in ({"typ": "JWT"}, {}):
        with pytest.raises(WrongTypeError):
            verify(key.sign(sent, CLAIMS), keys, algorithms=ALGS, typ="at+jwt")


def test_crit_header_is_refused(jwcrypto_keys):
    token = SigningKey.from_jwk(private(jwcrypto_keys["ES256"])).sign({"crit": ["exp"], "exp": 1}, CLAIMS)
    with pytest.raises(MalformedTokenError, match="critical"):
        verify(token, public_set(jwcrypto_keys["ES256"]), algorithms=ALGS)


@pytest.mark.parametrize("token", [
    "", "abc", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.", b64url_encode(b"[1]") + ".e30.",
    b64url_encode(b'{"alg":"ES256","kid":"kid-ES256"}') + ".e30.a=",
    b64url_encode(b'{"alg":"ES256","kid":7}') + ".e30.",
    b64url_encode(b"not json") + ".e30.", 42,
])
def test_malformed_tokens_are_refused(jwcrypto_keys, token):
    with pytest.raises(MalformedTokenError):
        verify(token, public_set(jwcrypto_keys["ES256"]), algorithms=ALGS)


def test_payload_that_is_not_an_object_is_malformed(jwcrypto_keys):
    key = jwcrypto_keys["ES256"]
    signed = jc_jws.JWS(b"[1, 2]")
    signed.add_signature(key, "ES256", protected=json.dumps({"alg": "ES256", "kid": "kid-ES256"}))
    with pytest.raises(MalformedTokenError, match="payload"):
        verify(signed.serialize(compact=True), public_set(key), algorithms=ALGS)


def test_encoded_header_is_cached_per_typ(jwcrypto_keys):
    key = SigningKey.from_jwk(private(jwcrypto_keys["ES256"]))
    first, second = key.sign({"typ": "at+jwt"}, {"a": 1}), key.sign({"typ": "at+jwt"}, {"a": 2})
    assert first.split(".")[0] == second.split(".")[0]
    assert json.loads(segments(key.sign({"typ": "JWT"}, {}))[0])["typ"] == "JWT"
    assert json.loads(segments(key.sign({}, {}))[0]) == {"alg": "ES256", "kid": "kid-ES256"}


def test_caller_may_not_set_alg_or_kid(jwcrypto_keys):
    key = SigningKey.from_jwk(private(jwcrypto_keys["ES256"]))
    with pytest.raises(ValueError):
        key.sign({"alg": "none"}, CLAIMS)


def test_signing_key_needs_a_kid_and_a_matching_alg(jwcrypto_keys):
    jwk = private(jwcrypto_keys["ES256"])
    with pytest.raises(ValueError, match="kid"):
        SigningKey.from_jwk({k: v for k, v in jwk.items() if k != "kid"})
    with pytest.raises(ValueError, match="alg"):
        SigningKey.from_jwk({**jwk, "alg": "RS256"})


def test_rsa_key_without_crt_members_is_accepted(jwcrypto_keys):
    jwk = {k: v for k, v in private(jwcrypto_keys["RS256"]).items() if k not in ("p", "q", "dp", "dq", "qi")}
    token = SigningKey.from_jwk(jwk).sign({}, CLAIMS)
    assert verify(token, public_set(jwcrypto_keys["RS256"]), algorithms=["RS256"])[1] == CLAIMS


def test_rsa_keys_under_2048_bits_are_refused():
    small = jc_jwk.JWK.generate(kty="RSA", size=1024, kid="small")
    with pytest.raises(ValueError, match="2048"):
        SigningKey.from_jwk(private(small))
    assert len(public_set(small)) == 0


def test_jwks_skips_keys_it_cannot_use(jwcrypto_keys):
    enc = json.loads(jwcrypto_keys["ES256"].export_public()) | {"use": "enc", "kid": "enc"}
    x25519 = json.loads(jc_jwk.JWK.generate(kty="OKP", crv="X25519", kid="x").export_public())
    broken = {"kty": "EC", "crv": "P-256", "kid": "broken", "x": "AAAA", "y": "AAAA"}
    keys = VerificationKeys.from_jwks({"keys": [enc, x25519, broken,
                                                json.loads(jwcrypto_keys["RS256"].export_public())]})
    assert len(keys) == 1 and "kid-RS256" in keys
    with pytest.raises(ValueError):
        VerificationKeys.from_jwks({"keys": "nope"})


# ---------------------------------------------------------------- validate_claims

NOW = 1_900_000_000
GOOD = {"iss": "https://i", "aud": ["api", "other"], "exp": NOW + 60, "iat": NOW, "nbf": NOW}


def test_valid_claims_pass():
    validate_claims(GOOD, issuer="https://i", audience="api", now=NOW)
    validate_claims({**GOOD, "aud": "api"}, issuer="https://i", audience="api", now=NOW)
    validate_claims({"iss": "https://i", "exp": time.time() + 60}, issuer="https://i")


def test_expired_token_fails_after_the_leeway():
    validate_claims({**GOOD, "exp": NOW - 10}, issuer="https://i", now=NOW, leeway=30)
    with pytest.raises(ExpiredTokenError):
        validate_claims({**GOOD, "exp": NOW - 30}, issuer="https://i", now=NOW, leeway=30)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_token_from_the_future_fails(claim):
    with pytest.raises(NotYetValidError):
        validate_claims({**GOOD, claim: NOW + 31}, issuer="https://i", now=NOW, leeway=30)


@pytest.mark.parametrize("claims, audience", [
    ({**GOOD, "iss": "https://evil"}, None),
    ({k: v for k, v in GOOD.items() if k != "exp"}, None),
    ({**GOOD, "exp": True}, None),
    ({**GOOD, "exp": "soon"}, None),
    (GOOD, "someone-else"),
    ({k: v for k, v in GOOD.items() if k != "aud"}, "api"),
])
def test_wrong_or_missing_registered_claims_fail(claims, audience):
    with pytest.raises(InvalidClaimsError):
        validate_claims(claims, issuer="https://i", audience=audience, now=NOW)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_sign_async_signs_what_sign_signs(jwcrypto_keys, alg):
    """RS256 goes to a worker thread, ES256 signs in place: either way the token verifies."""
    key = SigningKey.from_jwk(private(jwcrypto_keys[alg]))
    claims = {"sub": "user-1", "iat": int(time.time())}
    token = await key.sign_async({"typ": "JWT"}, claims)
    _header, verified = verify(token, public_set(jwcrypto_keys[alg]), algorithms=[alg])
    assert verified == claims


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
async def test_rs256_signs_in_place_when_the_process_may_use_one_core_only(jwcrypto_keys):
    """A hand-off to a thread on the same core would only add a thread switch."""
    cores = os.sched_getaffinity(0)
    key = SigningKey.from_jwk(private(jwcrypto_keys["RS256"]))
    try:
        os.sched_setaffinity(0, {min(cores)})
        jws.usable_cores.cache_clear()
        assert jws.usable_cores() == 1 and jws._signers() is None
        token = await key.sign_async({"typ": "JWT"}, {"sub": "user-1"})
        assert verify(token, public_set(jwcrypto_keys["RS256"]), algorithms=["RS256"])[1] == {"sub": "user-1"}
    finally:
        os.sched_setaffinity(0, cores)
        jws.usable_cores.cache_clear()
    if len(cores) > 1:
        assert jws.usable_cores() == len(cores) and jws._signers() is not None
