"""Renders ``docs/events.md`` from the event registry, so the table never drifts from the code."""
from __future__ import annotations

import importlib

import orjson

from .model import Registry, registry

# Every module that declares event types. A new service adds its module here.
EVENT_MODULES = ("services.token.events", "services.keys.events")

HEADER = """# Events

Every state change in Tessera is an event: appended to the owning service's event store in
Postgres, then relayed by the transactional outbox to NATS JetStream (stream `TESSERA`). This
page is generated from the code (`tessera events docs`); a test fails when it is out of date.

## The envelope
Every message on NATS is one JSON object:

| field | meaning |
| --- | --- |
| `id` | event id (UUID); also the JetStream message id, so a re-send is deduplicated |
| `type` | `<aggregate>.<past-tense verb>` |
| `version` | schema version of `type`; older versions are upcast before a consumer sees them |
| `stream`, `sequence` | the aggregate's stream and the event's position in it (1-based) |
| `occurred_at` | UTC, ISO 8601 |
| `service` | the service that recorded it |
| `tenant`, `application` | the tenant and application it concerns (null for none) |
| `request_id` | the request that caused it (also on every log line of that request) |
| `actor` | who caused it (`client:<id>` for an admin client, null when the protocol did) |
| `data` | the payload below: ids and digests, never a token, code, password or secret |

Subject: `tessera.<service>.<tenant or _>.<aggregate>.<verb>`, e.g.
`tessera.token.demo.access_token.issued`. A subscriber filters with wildcards, e.g.
`tessera.*.demo.>` for everything of tenant `demo`.

## Event types
"""


def load_all() -> Registry:
    for name in EVENT_MODULES:
        importlib.import_module(name)
    return registry


def render(reg: Registry | None = None) -> str:
    reg = reg or load_all()
    lines = [HEADER, "| type | version | service | description |", "| --- | --- | --- | --- |"]
    types = [t for t in reg if t.service != "?"]
    for etype in types:
        lines.append(f"| [`{etype.name}`](#{etype.name.replace('.', '')}) | {etype.version} | "
                     f"{etype.service} | {etype.description} |")
    for etype in types:
        example = orjson.dumps(etype.example, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        lines += ["", f"### `{etype.name}`", "", f"Version {etype.version}. {etype.description}", "",
                  "```json", example, "```"]
    return "\n".join(lines) + "\n"
