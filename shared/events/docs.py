"""Renders ``docs/events.md`` from the event registry, so the table never drifts from the code."""
from __future__ import annotations

import importlib

import orjson

from . import schema
from .model import Registry, registry

# Every module that declares event types. A new service adds its module here.
EVENT_MODULES = ("services.token.events", "services.keys.events", "services.authn.events")

HEADER = """# Events

Every state change in Tessera is an event: appended to the owning service's event store in
Postgres, then relayed by the transactional outbox to NATS JetStream (stream `TESSERA`). This
page is generated from the code (`tessera events docs`); a test fails when it is out of date.

When it arrives: the process that committed an event publishes it within about 10 ms of the
commit (it waits that long so that the commits of the next few milliseconds go out with it);
when it cannot (NATS away, the process gone), any replica's sweep publishes it about 5 s
later. Delivery is at least once, deduplicated by the message id (ADR 0004).

The contract is JSON Schema (draft 2020-12), kept in the repository: the envelope in
`shared/events/schemas/envelope.v1.json`, each event type's payload in
`shared/events/schemas/<type>.v<version>.json`. A raised version keeps the older files. A
contract test validates every event the test suite publishes against them.

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
| `subject` | the ids the event is about, taken from `data`: `client_id`, `user_id`, `grant_id`, `jti`, `kid`, `session_id` when present (a token's `subject` is its `user_id` unless it is the client itself) |
| `data` | the payload below: ids and digests, never a token, code, password or secret |

Subject: `tessera.<service>.<tenant or _>.<aggregate>.<verb>`, e.g.
`tessera.token.demo.access_token.issued`. A subscriber filters with wildcards, e.g.
`tessera.*.demo.>` for everything of tenant `demo`, `tessera.keys.>` for every key event,
`tessera.*.*.access_token.*` for every token issued or revoked. `tessera events tail` follows
the stream with these filters; `tessera audit` keeps a ledger of it (docs/audit.md).
"""


def load_all() -> Registry:
    for name in EVENT_MODULES:
        importlib.import_module(name)
    return registry


def _schema_block(name: str) -> list[str]:
    text = orjson.dumps(schema.load(name), option=orjson.OPT_INDENT_2).decode()
    return ["<details><summary>JSON Schema (<code>shared/events/schemas/" + name + "</code>)</summary>", "",
            "```json", text, "```", "", "</details>"]


def render(reg: Registry | None = None) -> str:
    reg = reg or load_all()
    lines = [HEADER, *_schema_block(schema.ENVELOPE), "", "## Event types", "",
             "| type | version | service | subject | description |", "| --- | --- | --- | --- | --- |"]
    types = [t for t in reg if t.service != "?"]
    for etype in types:
        lines.append(f"| [`{etype.name}`](#{etype.name.replace('.', '')}) | {etype.version} | "
                     f"{etype.service} | `tessera.{etype.service}.<tenant>.{etype.name}` | {etype.description} |")
    for etype in types:
        example = orjson.dumps(etype.example, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        lines += ["", f"### `{etype.name}`", "", f"Version {etype.version}. {etype.description}", "",
                  "```json", example, "```", "",
                  *_schema_block(schema.schema_file(etype.name, etype.version))]
    return "\n".join(lines) + "\n"
