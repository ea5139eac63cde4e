"""The one error the registry's commands raise: :mod:`shared.domain_errors`, shared by every service."""
from shared.domain_errors import CONFLICT, GONE, INVALID_REQUEST, NOT_FOUND, DomainError, fail

__all__ = ["CONFLICT", "GONE", "INVALID_REQUEST", "NOT_FOUND", "DomainError", "fail"]
