"""Lifecycle states every registry aggregate shares, and what a fold reads from an event."""
from __future__ import annotations

from typing import Any, Mapping, Protocol

from ..model import ACTIVE, DISABLED

DELETED = "deleted"
STATUSES = (ACTIVE, DISABLED, DELETED)

__all__ = ["ACTIVE", "DELETED", "DISABLED", "STATUSES", "Recorded"]


class Recorded(Protocol):
    """What ``fold`` needs of an event: a recorded ``Event`` or a ``NewEvent`` both fit."""
    type: str
    data: Mapping[str, Any]
