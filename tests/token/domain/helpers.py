"""Small builders for the pure domain tests."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from services.token.domain import DomainError
from services.token.domain import application as app_domain
from services.token.domain import client as client_domain
from services.token.domain import tenant as tenant_domain

PUBLIC_URL = "https://id.example.com"
HASH_A = "a" * 64
HASH_B = "b" * 64
HASH_C = "c" * 64
CLIENT_ID = "q3Zr8kX1bV9sLm2PwT7aYc"


@contextmanager
def raises(code: str, match: str | None = None):
    """pytest.raises for a DomainError with ``code``."""
    with pytest.raises(DomainError, match=match) as info:
        yield info
    assert info.value.code == code, f"expected {code}, got {info.value!r}"


def tenant_events(tenant_id="acme", name="Acme"):
    return tenant_domain.create(None, tenant_id, name)


def tenant_state(tenant_id="acme", *more):
    return tenant_domain.fold([*tenant_events(tenant_id), *more])


def app_events(application_id="billing", **kwargs):
    kwargs.setdefault("name", "Billing")
    return app_domain.create(None, application_id=application_id, tenant=tenant_state(), public_url=PUBLIC_URL,
                             **kwargs)


def app_state(application_id="billing", **kwargs):
    return app_domain.fold(app_events(application_id, **kwargs))


def client_events(application=None, client_id=CLIENT_ID, **kwargs):
    kwargs.setdefault("name", "Exporter")
    method = kwargs.get("token_endpoint_auth_method", "client_secret_basic")
    kwargs.setdefault("secret_hash", None if method == "none" else HASH_A)
    return client_domain.create(None, application=application or app_state(), client_id=client_id, **kwargs)


def client_state(*more, **kwargs):
    return client_domain.fold([*client_events(**kwargs), *more])
