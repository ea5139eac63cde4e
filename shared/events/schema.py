"""The event contract: JSON Schemas of the envelope and of every event type's payload.

Every message Tessera publishes on NATS is an envelope (``schemas/envelope.v1.json``) whose
``data`` follows the schema of its type at its version (``schemas/<type>.v<version>.json``,
draft 2020-12). The schemas are files in the repository, rendered into ``docs/events.md``, so a
subscriber in any language can validate what it reads. A raised version keeps its old file: a
subscriber may meet stored events of any version.

:func:`problems` lists every way a message breaks the contract (the contract test runs it on
every message of a test session); :func:`validate` raises :class:`ContractViolation` instead.
Validators are compiled once per schema.
"""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Iterator

from jsonschema import Draft202012Validator

ENVELOPE = "envelope.v1.json"
# Keys no payload may carry at any depth: a token, code, password, secret or private key member.
FORBIDDEN_KEYS = frozenset({
    "access_token", "refresh_token", "id_token", "code", "password", "secret", "client_secret",
    "private_jwk", "d", "p", "q", "dp", "dq", "qi",
})


class ContractViolation(ValueError):
    """A message breaks the event contract; ``problems`` says how."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def schema_file(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def _directory():
    return resources.files("shared.events.schemas")


def available() -> set[tuple[str, int]]:
    """Every ``(type, version)`` with a schema file."""
    found = set()
    for entry in _directory().iterdir():
        name = entry.name
        if name.endswith(".json") and name != ENVELOPE:
            event_type, _, version = name.removesuffix(".json").rpartition(".v")
            found.add((event_type, int(version)))
    return found


@functools.cache
def load(name: str) -> dict[str, Any]:
    """A schema document by file name (``ENVELOPE`` or :func:`schema_file`); KeyError when absent."""
    entry = _directory().joinpath(name)
    if not entry.is_file():
        raise KeyError(name)
    return json.loads(entry.read_text())


@functools.cache
def validator(name: str) -> Draft202012Validator:
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _errors(name: str, instance: Any, where: str) -> Iterator[str]:
    for error in sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        yield f"{where}{path}: {error.message}"


def _forbidden(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in FORBIDDEN_KEYS:
                yield f"{where}.{key}: a payload never carries a token, code, password, secret or private key"
            yield from _forbidden(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _forbidden(item, f"{where}[{index}]")


def expected_subject(envelope: dict[str, Any]) -> str:
    """The NATS subject an envelope is published on: ``tessera.<service>.<tenant or _>.<aggregate>.<verb>``."""
    aggregate, verb = envelope["type"].split(".", 1)
    return f"tessera.{envelope['service']}.{envelope.get('tenant') or '_'}.{aggregate}.{verb}"


def problems(envelope: Any, subject: str | None = None) -> list[str]:
    """Every way ``envelope`` (a parsed message) breaks the contract; empty when it keeps it.

    With ``subject``, the NATS subject it came on must be the one its envelope implies.
    """
    found = list(_errors(ENVELOPE, envelope, "envelope"))
    if found or not isinstance(envelope, dict):
        return found
    name = schema_file(envelope["type"], envelope["version"])
    try:
        found += _errors(name, envelope["data"], "data")
    except KeyError:
        found.append(f"no schema for {envelope['type']} v{envelope['version']} (shared/events/schemas/{name})")
    found += _forbidden(envelope["data"], "data")
    if subject is not None and subject != expected_subject(envelope):
        found.append(f"subject {subject!r} is not {expected_subject(envelope)!r}")
    return found


def validate(envelope: Any, subject: str | None = None) -> None:
    """Raise :class:`ContractViolation` unless ``envelope`` keeps the contract."""
    found = problems(envelope, subject)
    if found:
        raise ContractViolation(found)


def validate_payload(event_type: str, version: int, data: Any) -> None:
    """Raise :class:`ContractViolation` unless ``data`` follows its type's schema (KeyError: none)."""
    found = list(_errors(schema_file(event_type, version), data, "data")) + list(_forbidden(data, "data"))
    if found:
        raise ContractViolation(found)
