"""The authn domain: users and consents as pure fold/command functions (no I/O)."""
from .errors import CONFLICT, GONE, INVALID_REQUEST, NOT_FOUND, DomainError

__all__ = ["CONFLICT", "GONE", "INVALID_REQUEST", "NOT_FOUND", "DomainError"]
