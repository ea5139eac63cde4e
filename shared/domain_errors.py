"""The one error every service's domain commands raise, with four stable codes.

Pure (no I/O): the admin APIs (:mod:`shared.admin_api`) answer it as ``{"error",
"error_description"}`` with the status of its code.
"""
from __future__ import annotations

INVALID_REQUEST = "invalid_request"   # 400: the input breaks a rule
NOT_FOUND = "not_found"               # 404: no such thing (or not the caller's tenant's)
CONFLICT = "conflict"                 # 409: it exists already, or its state forbids it now
GONE = "gone"                         # 410: it was deleted
STATUS = {INVALID_REQUEST: 400, NOT_FOUND: 404, CONFLICT: 409, GONE: 410}


class DomainError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r})"


def fail(message: str) -> DomainError:
    """The error of input that breaks a rule (raise it)."""
    return DomainError(INVALID_REQUEST, message)
