"""Client authentication (RFC 6749 §2.3.1): extracting credentials, then checking them."""
from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import quote_plus

import pytest

from services.token.oauth import client_auth
from services.token.oauth.client_auth import Credentials, authenticate, extract_credentials
from services.token.oauth.errors import InvalidClient, InvalidRequest

from .data import ISSUER, NOW, PEPPER, SECRET, client, hashed

CHALLENGE = f'Basic realm="{ISSUER}", error="invalid_client"'


def basic(client_id: str, secret: str, *, encode: bool = True) -> str:
    if encode:
        client_id, secret = quote_plus(client_id), quote_plus(secret)
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def extract(authorization: str | None = None, **form: str) -> Credentials:
    return extract_credentials(authorization, form, realm=ISSUER)


# ---------------------------------------------------------------- extraction

def test_basic_credentials_are_read_from_the_header():
    assert extract(basic("shop-backend", SECRET)) == Credentials("shop-backend", SECRET, "client_secret_basic", ISSUER)


def test_basic_credentials_are_form_urlencoded_before_base64():
    creds = extract(basic("app:1 ü", "p+a%s:s w/rd"))
    assert (creds.client_id, creds.secret) == ("app:1 ü", "p+a%s:s w/rd")
    # a '+' sent unencoded means a space (application/x-www-form-urlencoded)
    assert extract(basic("a", "x+y", encode=False)).secret == "x y"


def test_basic_scheme_name_is_case_insensitive():
    assert extract(basic("c", "s").replace("Basic", "bAsIc")).client_id == "c"


def test_basic_padding_may_be_left_out():
    header = basic("c", "s1").rstrip("=")
    assert header != basic("c", "s1") and extract(header).secret == "s1"


@pytest.mark.parametrize("header", [
    "Basic", "Basic !!!!", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b":secret").decode(), "Basic " + base64.b64encode(b"\xff:x").decode(),
    "Basic " + base64.b64encode(b"c%ff:x").decode(), "Bearer abc", "",
])
def test_malformed_or_foreign_authorization_header_is_invalid_client_with_challenge(header):
    with pytest.raises(InvalidClient) as caught:
        extract(header)
    assert caught.value.headers["WWW-Authenticate"] == CHALLENGE


def test_secret_in_header_and_form_is_invalid_request():
    with pytest.raises(InvalidRequest, match="one client authentication method"):
        extract(basic("c", "s"), client_id="c", client_secret="s")


def test_assertion_alongside_a_secret_is_invalid_request():
    with pytest.raises(InvalidRequest):
        extract(client_id="c", client_secret="s", client_assertion="x.y.z",
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")


def test_client_id_in_form_next_to_header_must_name_the_same_client():
    assert extract(basic("c", "s"), client_id="c").method == "client_secret_basic"
    with pytest.raises(InvalidRequest, match="client_id"):
        extract(basic("c", "s"), client_id="other")


def test_form_credentials_are_client_secret_post_without_challenge():
    assert extract(client_id="c", client_secret="s") == Credentials("c", "s", "client_secret_post")


def test_client_id_alone_is_method_none():
    assert extract(client_id="c") == Credentials("c", None, "none")


def test_no_credentials_at_all_is_invalid_client():
    with pytest.raises(InvalidClient) as caught:
        extract()
    assert caught.value.headers["WWW-Authenticate"] == CHALLENGE


def test_secret_without_client_id_is_invalid_client():
    with pytest.raises(InvalidClient):
        extract(client_secret="s")


def test_client_assertion_is_not_supported_yet():
    with pytest.raises(InvalidClient):
        extract(client_assertion="x.y.z", client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")


def test_credentials_never_show_the_secret():
    assert SECRET not in repr(extract(basic("c", SECRET))) and SECRET not in str(extract(basic("c", SECRET)))


# ---------------------------------------------------------------- authentication

BASIC = Credentials("shop-backend", SECRET, "client_secret_basic", ISSUER)
POST = Credentials("shop-backend", SECRET, "client_secret_post")


def test_correct_basic_secret_authenticates():
    assert authenticate(BASIC, client(), PEPPER, NOW) == client()


def test_correct_post_secret_authenticates_a_post_client():
    registered = client(token_endpoint_auth_method="client_secret_post")
    assert authenticate(POST, registered, PEPPER, NOW) is registered


def test_wrong_secret_is_invalid_client():
    with pytest.raises(InvalidClient):
        authenticate(Credentials("shop-backend", SECRET + "x", "client_secret_basic", ISSUER), client(), PEPPER, NOW)


def test_unknown_client_is_invalid_client():
    with pytest.raises(InvalidClient):
        authenticate(BASIC, None, PEPPER, NOW)


def test_disabled_client_is_invalid_client():
    with pytest.raises(InvalidClient):
        authenticate(BASIC, client(status="disabled"), PEPPER, NOW)


def test_method_other_than_the_registered_one_is_invalid_client():
    with pytest.raises(InvalidClient):
        authenticate(POST, client(), PEPPER, NOW)          # registered client_secret_basic


def test_client_loaded_for_another_id_is_treated_as_unknown():
    with pytest.raises(InvalidClient):
        authenticate(BASIC, client(client_id="someone-else"), PEPPER, NOW)


def test_rotated_secret_valid_until_grace_deadline():
    rotated = client(secret_hashes=(hashed("new"), hashed(SECRET, expires_in=timedelta(minutes=5))))
    assert authenticate(BASIC, rotated, PEPPER, NOW)
    assert authenticate(BASIC, rotated, PEPPER, NOW + timedelta(minutes=4, seconds=59))
    with pytest.raises(InvalidClient):
        authenticate(BASIC, rotated, PEPPER, NOW + timedelta(minutes=5))
    assert authenticate(Credentials("shop-backend", "new", "client_secret_basic", ISSUER), rotated,
                        PEPPER, NOW + timedelta(days=365))


def test_client_without_secrets_cannot_authenticate_with_one():
    with pytest.raises(InvalidClient):
        authenticate(BASIC, client(secret_hashes=()), PEPPER, NOW)


def test_public_client_is_authenticated_by_client_id_alone():
    public = client(token_endpoint_auth_method="none", secret_hashes=())
    assert authenticate(Credentials("shop-backend", None, "none"), public, PEPPER, NOW) is public


def test_public_client_presenting_a_secret_is_invalid_client():
    public = client(token_endpoint_auth_method="none", secret_hashes=())
    with pytest.raises(InvalidClient):
        authenticate(POST, public, PEPPER, NOW)


def test_confidential_client_without_its_secret_is_invalid_client():
    with pytest.raises(InvalidClient):
        authenticate(Credentials("shop-backend", None, "none"), client(), PEPPER, NOW)


def test_every_failure_looks_the_same_to_the_client():
    failures = [
        (BASIC, None), (BASIC, client(status="disabled")), (POST, client()),
        (Credentials("shop-backend", "wrong", "client_secret_basic", ISSUER), client()),
    ]
    seen = set()
    for credentials, registered in failures:
        with pytest.raises(InvalidClient) as caught:
            authenticate(credentials, registered, PEPPER, NOW)
        seen.add((str(caught.value.to_body()), caught.value.status))
        assert caught.value.debug                           # the reason is kept for the log
    assert len(seen) == 1


def test_failure_after_basic_has_a_challenge_and_after_post_has_none():
    with pytest.raises(InvalidClient) as basic_failure:
        authenticate(BASIC, None, PEPPER, NOW)
    with pytest.raises(InvalidClient) as post_failure:
        authenticate(POST, None, PEPPER, NOW)
    assert basic_failure.value.headers == {"WWW-Authenticate": CHALLENGE}
    assert post_failure.value.headers == {}


def test_unknown_client_costs_the_same_hmac(monkeypatch):
    calls: list[str] = []
    real_hash, real_equal = client_auth.secret_hash, client_auth.equal
    monkeypatch.setattr(client_auth, "secret_hash", lambda *a: calls.append("hmac") or real_hash(*a))
    monkeypatch.setattr(client_auth, "equal", lambda *a: calls.append("compare") or real_equal(*a))

    def work(registered) -> list[str]:
        calls.clear()
        with pytest.raises(InvalidClient):
            authenticate(Credentials("shop-backend", "wrong", "client_secret_basic", ISSUER), registered, PEPPER, NOW)
        return list(calls)

    assert work(None) == work(client()) == ["hmac", "compare"]
    assert work(client(status="disabled")) == ["hmac", "compare"]


def test_every_stored_hash_is_compared_without_early_exit(monkeypatch):
    compared: list[str] = []
    real_equal = client_auth.equal
    monkeypatch.setattr(client_auth, "equal", lambda a, b: compared.append(b) or real_equal(a, b))
    two = client(secret_hashes=(hashed(SECRET), hashed("other")))
    authenticate(BASIC, two, PEPPER, NOW)
    assert compared == [h.hash for h in two.secret_hashes]
