"""PKCE (RFC 7636) on plain data: S256 only, and the Appendix B example."""
from __future__ import annotations

import pytest

from services.token.oauth.errors import InvalidGrant, InvalidRequest
from services.token.oauth.pkce import check_challenge, check_verifier, s256

# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_the_rfc_example():
    assert s256(VERIFIER) == CHALLENGE


def test_matching_verifier_passes():
    check_verifier(VERIFIER, CHALLENGE)


@pytest.mark.parametrize("verifier", [None, "x" * 43, "short", VERIFIER + "!"])
def test_missing_wrong_or_malformed_verifier_is_invalid_grant(verifier):
    with pytest.raises(InvalidGrant):
        check_verifier(verifier, CHALLENGE)


def test_verifier_without_challenge_is_invalid_grant():
    with pytest.raises(InvalidGrant):
        check_verifier(VERIFIER, None)
    check_verifier(None, None)


def test_plain_and_missing_method_are_refused():
    for method in ("plain", None, "s256"):
        with pytest.raises(InvalidRequest):
            check_challenge(CHALLENGE, method, required=False)


def test_required_challenge_and_orphan_method():
    with pytest.raises(InvalidRequest):
        check_challenge(None, None, required=True)
    with pytest.raises(InvalidRequest):
        check_challenge(None, "S256", required=False)
    assert check_challenge(None, None, required=False) == (None, None)
    assert check_challenge(CHALLENGE, "S256", required=True) == (CHALLENGE, "S256")
