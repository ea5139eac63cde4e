"""The one error authn's commands raise, with a stable code the admin API maps to HTTP."""
from __future__ import annotations

INVALID_REQUEST = "invalid_request"   # 400: the input breaks a rule
NOT_FOUND = "not_found"               # 404: no such user (or not the caller's tenant's)
CONFLICT = "conflict"                 # 409: the username or email is taken, or the state forbids it
GONE = "gone"                         # 410: the user was deleted


class DomainError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r})"


def fail(message: str) -> DomainError:
    return DomainError(INVALID_REQUEST, message)
