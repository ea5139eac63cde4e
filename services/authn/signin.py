"""The sign-in decisions, on plain data (OIDC Core §3.1.2.1 ``prompt`` and ``max_age``).

No I/O: the pages module gathers the facts and acts on what these functions answer.
"""
from __future__ import annotations

from typing import Iterable

from .domain.consent import needs_consent
from .handoff import PendingRequest
from .sessions import Session

# What to do once the user is known.
RESULT, CONSENT_PAGE, CONSENT_REQUIRED = "result", "consent_page", "consent_required"
# What to do before: a session may be used, the form shown, or prompt=none refused.
USE_SESSION, LOGIN_FORM, LOGIN_REQUIRED = "use_session", "login_form", "login_required"


def session_satisfies(request: PendingRequest, session: Session | None, now: int) -> bool:
    """A live session of the request's tenant, not refused by ``prompt=login`` or ``max_age``."""
    if session is None or session.tenant_id != request.tenant_id:
        return False
    if "login" in request.prompt:
        return False
    if request.max_age is not None and now - session.auth_time > request.max_age:
        return False
    return True


def before_login(request: PendingRequest, session: Session | None, now: int) -> str:
    if session_satisfies(request, session, now):
        return USE_SESSION
    return LOGIN_REQUIRED if "none" in request.prompt else LOGIN_FORM


def after_login(request: PendingRequest, granted: Iterable[str]) -> str:
    if not needs_consent(request.scopes, granted, skip_consent=request.skip_consent, prompt=request.prompt):
        return RESULT
    return CONSENT_REQUIRED if "none" in request.prompt else CONSENT_PAGE
