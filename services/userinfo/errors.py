"""The userinfo endpoint's errors: RFC 6750 §3 (and one 404 of our own). Plain data, no aiohttp."""
from __future__ import annotations

import re
from dataclasses import dataclass

# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
_DESCRIPTION = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")


@dataclass(eq=False)
class BearerError(Exception):
    """A refused userinfo request. ``error`` None: no credentials at all (§3.1, no error code)."""
    status: int
    error: str | None
    description: str
    scope: str | None = None

    def __post_init__(self) -> None:
        if not _DESCRIPTION.match(self.description):
            raise ValueError("error_description has characters RFC 6750 does not allow")

    def challenge(self, realm: str) -> str:
        """The ``WWW-Authenticate`` value (§3); ``realm`` is the application's issuer."""
        parts = [f'realm="{_quoted(realm)}"']
        if self.error is not None:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
            if self.scope is not None:
                parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)

    def body(self) -> dict[str, str]:
        if self.error is None:
            return {"error_description": self.description}
        return {"error": self.error, "error_description": self.description}


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def invalid_request(description: str) -> BearerError:
    return BearerError(400, "invalid_request", description)


def invalid_token(description: str) -> BearerError:
    return BearerError(401, "invalid_token", description)


def insufficient_scope(description: str, scope: str) -> BearerError:
    return BearerError(403, "insufficient_scope", description, scope)


def no_token() -> BearerError:
    return BearerError(401, None, "An access token is required.")
