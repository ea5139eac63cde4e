"""Every event type the authn service writes, with an example payload.

| stream | events |
| --- | --- |
| ``user:{tenant_id}:{user_id}`` | ``user.created``, ``.updated``, ``.password_changed``, ``.disabled``, ``.enabled``, ``.deleted`` |
| ``session:{tenant_id}:{sid}`` | ``session.started`` |
| ``consent:{tenant_id}:{user_id}:{application_id}:{client_id}`` | ``consent.granted``, ``consent.revoked`` |

User events carry the user's claims (``user.created`` all of them, ``user.updated`` the changed
ones under ``changes``): the userinfo service builds its read model from them. A password is
never in an event. Its argon2id hash is, sealed (AES-256-GCM under the key-encryption key, the
user id as associated data: ``sealed_password_hash``), so that replay rebuilds the credentials
from the log while no subscriber can read or attack the hash.

Failed sign-ins are counted in Redis (brute-force limits), not written per attempt: an attacker
must not be able to grow the durable log. Every successful sign-in is a ``session.started``.
"""
from __future__ import annotations

from shared.events import event_type

_SEALED = {"nonce": "0N1u2YcB3vQmZ8Jd", "ciphertext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3A"}
_CLAIMS = {
    "email": "ada@example.com", "email_verified": True, "phone_number": "+442071838750",
    "phone_number_verified": False, "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
    "middle_name": None, "nickname": "ada", "preferred_username": "ada", "profile": None,
    "picture": "https://example.com/ada.png", "website": None, "gender": "female", "birthdate": "1815-12-10",
    "zoneinfo": "Europe/London", "locale": "en-GB",
    "address": {"formatted": None, "street_address": "12 St James's Square", "locality": "London",
                "region": None, "postal_code": "SW1Y 4JH", "country": "GB"},
}

USER_CREATED = event_type(
    "user.created",
    description="A user was created (admin API or import). Carries every claim (null when unset) and, "
                "when the user has a password, its argon2id hash sealed under the key-encryption key.",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme", "username": "ada", "status": "active",
             **_CLAIMS, "updated_at": 1764100000, "sealed_password_hash": _SEALED, "source": "admin"}).name
USER_UPDATED = event_type(
    "user.updated",
    description="A user's username or claims changed: `changes` holds the new value of each changed "
                "field (null: removed) and the new `updated_at`.",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme",
             "changes": {"family_name": "King", "name": "Ada King", "updated_at": 1764100300}}).name
USER_PASSWORD_CHANGED = event_type(
    "user.password_changed",
    description="A user's password was set or changed (`reason` admin), or its hash was recomputed with "
                "the current argon2id parameters at sign-in (`reason` rehash). The hash is sealed.",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme", "sealed_password_hash": _SEALED,
             "reason": "admin"}).name
USER_DISABLED = event_type(
    "user.disabled", description="A user was disabled: they cannot sign in and their sessions stop working.",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme"}).name
USER_ENABLED = event_type(
    "user.enabled", description="A disabled user was enabled again.",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme"}).name
USER_DELETED = event_type(
    "user.deleted",
    description="A user was deleted: they cannot sign in, their sessions stop working, their username "
                "and email may be taken by a new user; their id is never reused.",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme"}).name

SESSION_STARTED = event_type(
    "session.started",
    description="A user signed in (hosted login page): an SSO session of the tenant started. `session_id` "
                "is the `sid` the ID token carries; the session cookie is never in an event.",
    example={"session_id": "Jr2bN8wq0XcT5mLk7ZpV3a", "user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme",
             "application_id": "billing", "client_id": "billing", "amr": ["pwd"], "acr": "0",
             "auth_time": 1764100042}).name

CONSENT_GRANTED = event_type(
    "consent.granted",
    description="A user allowed a client the listed scopes (consent page). A later request whose scopes "
                "are all granted needs no consent page.",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme", "application_id": "billing",
             "client_id": "billing", "scopes": ["openid", "profile"]}).name
CONSENT_REVOKED = event_type(
    "consent.revoked", description="Every scope a user had granted a client was revoked (admin API).",
    example={"user_id": "k3V9mQ2xR7tLp0sW4bZc1A", "tenant_id": "acme", "application_id": "billing",
             "client_id": "billing"}).name

USER_EVENTS = (USER_CREATED, USER_UPDATED, USER_PASSWORD_CHANGED, USER_DISABLED, USER_ENABLED, USER_DELETED)


def user_stream(tenant_id: str, user_id: str) -> str:
    return f"user:{tenant_id}:{user_id}"


def session_stream(tenant_id: str, session_id: str) -> str:
    return f"session:{tenant_id}:{session_id}"


def consent_stream(tenant_id: str, user_id: str, application_id: str, client_id: str) -> str:
    return f"consent:{tenant_id}:{user_id}:{application_id}:{client_id}"
