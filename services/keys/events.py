"""The keys service's events (ADR 0002): one stream per key, ``signing_key:{kid}``.

Every event names the key's application and tenant in its envelope (``NewEvent.tenant``,
``NewEvent.application``), so the NATS subject is ``tessera.keys.<tenant>.signing_key.<verb>``.
Payloads hold public data only: the private key is sealed in the ``key_material`` vault,
written in the same transaction as ``signing_key.created`` (:mod:`services.keys.vault`).
"""
from __future__ import annotations

from shared.events import NewEvent, event_type

from .crypto import SigningKey

CREATED = "signing_key.created"
ACTIVATED = "signing_key.activated"
RETIRED = "signing_key.retired"
REVOKED = "signing_key.revoked"

_KID = "RRugbhZbzx8dM7fAcQfU1F5f9o--1jKg415TYy45zV0"
_NEW_KID = "oPOnH19MQCds2TtCy503YFX2QpXY1WsEsotdyNzaLgk"
_PUBLIC_JWK = {
    "kty": "EC", "crv": "P-256", "x": "U2uUolITx2neDa-7WBocq7Il9LtKOW7JE3Cd91L1jIo",
    "y": "DPqBD43zkXnNpKFmbLgGT8-lTkviLk8BDvpvsoThZLI", "kid": _KID, "alg": "ES256", "use": "sig",
}

event_type(CREATED, description=(
    "A signing key was generated for an application. status is 'current' for a new application's "
    "first key of an algorithm, 'next' when it is generated to replace a current key. The "
    "private key is not in the event: it is sealed in the keys service's vault."),
    example={"kid": _KID, "application_id": "acme-portal", "alg": "ES256", "status": "current",
             "public_jwk": _PUBLIC_JWK})
event_type(ACTIVATED, description="A 'next' key became the application's current signing key for its algorithm.",
           example={"kid": _NEW_KID, "application_id": "acme-portal", "alg": "RS256"})
event_type(RETIRED, description=(
    "A key stopped signing (replaced by 'replaced_by'); it stays in the JWKS so tokens it "
    "signed still verify."),
    example={"kid": _KID, "application_id": "acme-portal", "alg": "ES256", "replaced_by": _NEW_KID})
event_type(REVOKED, description=(
    "A key was withdrawn at once and removed from the JWKS: tokens it signed no longer verify. "
    "reason: 'application_deleted' or 'compromised'."),
    example={"kid": _KID, "application_id": "acme-portal", "alg": "ES256", "reason": "application_deleted"})


def stream(kid: str) -> str:
    return f"signing_key:{kid}"


def created(key: SigningKey, application_id: str, tenant_id: str, status: str) -> NewEvent:
    return NewEvent(CREATED, {"kid": key.kid, "application_id": application_id, "alg": key.alg,
                              "status": status, "public_jwk": key.public_jwk},
                    tenant=tenant_id, application=application_id)


def activated(kid: str, alg: str, application_id: str, tenant_id: str) -> NewEvent:
    return NewEvent(ACTIVATED, {"kid": kid, "application_id": application_id, "alg": alg},
                    tenant=tenant_id, application=application_id)


def retired(kid: str, alg: str, application_id: str, tenant_id: str, replaced_by: str) -> NewEvent:
    return NewEvent(RETIRED, {"kid": kid, "application_id": application_id, "alg": alg,
                              "replaced_by": replaced_by},
                    tenant=tenant_id, application=application_id)


def revoked(kid: str, alg: str, application_id: str, tenant_id: str, reason: str) -> NewEvent:
    return NewEvent(REVOKED, {"kid": kid, "application_id": application_id, "alg": alg, "reason": reason},
                    tenant=tenant_id, application=application_id)
