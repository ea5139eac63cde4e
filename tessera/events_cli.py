"""``tessera events tail``: follow the event stream, live or from a point in time.

A JetStream ordered consumer (ephemeral, in stream order, nothing to clean up) on the most
specific subject the filters allow (``tessera.<service>.<tenant>.<aggregate>.<verb>``); the
application, user and client filters are applied to each envelope (its ``application`` and
``subject`` ids). Output is one readable line per event, or the envelope as one JSON line with
``--json``. ``--limit`` and ``--timeout`` end it (exit 0); so does Ctrl-C.

The NATS URL is ``--nats-url``, else ``$TESSERA_NATS_URL``.
"""
from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Sequence

import orjson

STREAM = "TESSERA"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
SUBJECT_IDS = ("client_id", "user_id", "grant_id", "jti", "kid", "session_id")


class CliError(Exception):
    """One line for the user; the command exits 1."""


def parse_time(value: str) -> datetime:
    """ISO 8601 (``2025-06-01T10:30:00Z``, an offset, or naive = UTC) or ``now``."""
    if value.strip().lower() == "now":
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time (e.g. 2025-06-01T10:30:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _service_of(event_type: str) -> str:
    """The service that publishes ``event_type`` (from the event registry), ``*`` when unknown."""
    try:
        from shared.events.docs import load_all
        registry = load_all()
    except ImportError:
        return "*"
    return registry.get(event_type).service if event_type in registry and "*" not in event_type else "*"


def filter_subject(tenant: str | None, types: Sequence[str]) -> str:
    """The most specific subject covering ``tenant`` and every one of ``types``."""
    tenant_token = tenant or "*"
    if not types:
        return "tessera.>" if tenant is None else f"tessera.*.{tenant}.>"
    aggregates = {t.split(".", 1)[0] for t in types}
    if len(types) == 1 and "." in types[0]:
        aggregate, verb = types[0].split(".", 1)
        verb = verb if verb and "*" not in verb else "*"
        service = _service_of(types[0]) if verb != "*" else "*"
        return f"tessera.{service}.{tenant_token}.{aggregate}.{verb}"
    if len(aggregates) == 1 and "*" not in next(iter(aggregates)):
        return f"tessera.*.{tenant_token}.{aggregates.pop()}.*"
    return "tessera.>" if tenant is None else f"tessera.*.{tenant}.>"


def matches(envelope: dict[str, Any], args: argparse.Namespace) -> bool:
    if args.types and not any(fnmatch.fnmatchcase(str(envelope.get("type")), t) for t in args.types):
        return False
    if args.tenant and envelope.get("tenant") != args.tenant:
        return False
    if args.application and envelope.get("application") != args.application:
        return False
    subject = envelope.get("subject") or {}
    if args.user and subject.get("user_id") != args.user:
        return False
    if args.client and subject.get("client_id") != args.client:
        return False
    return True


def readable(envelope: dict[str, Any]) -> str:
    """``time  type  tenant/application  id=...  request_id=...``"""
    ids = envelope.get("subject") or {}
    parts = [f"{k}={ids[k]}" for k in SUBJECT_IDS if ids.get(k)]
    parts += [f"{k}={v}" for k, v in ids.items() if k not in SUBJECT_IDS and v]
    where = f"{envelope.get('tenant') or '_'}/{envelope.get('application') or '_'}"
    line = f"{envelope.get('occurred_at')}  {envelope.get('type', '?'):<24}  {where}  {' '.join(parts) or '-'}"
    line += f"  request_id={envelope.get('request_id') or '-'}"
    if envelope.get("actor"):
        line += f"  actor={envelope['actor']}"
    return line


async def tail(args: argparse.Namespace) -> int:
    import nats
    import nats.errors
    from nats.js.api import ConsumerConfig, DeliverPolicy
    from nats.js.errors import NotFoundError

    url = args.nats_url or os.environ.get("TESSERA_NATS_URL") or DEFAULT_NATS_URL
    errors: list[BaseException] = []

    async def on_error(exc: BaseException) -> None:  # instead of nats-py's traceback on stderr
        errors.append(exc)

    try:
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3, reconnect_time_wait=0.5,
                                error_cb=on_error)
    except (OSError, nats.errors.NoServersError, asyncio.TimeoutError) as exc:
        reason = errors[-1] if errors else exc
        raise CliError(f"cannot reach NATS at {url}: {reason or type(reason).__name__}") from None
    try:
        if args.all:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        elif args.since is not None:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=args.since)
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        subject = filter_subject(args.tenant, args.types or [])
        try:
            sub = await nc.jetstream().subscribe(subject, stream=STREAM, ordered_consumer=True, config=config)
        except NotFoundError:
            raise CliError(f"no stream {STREAM} on {url}: no Tessera service has started there") from None
        return await _print(sub, args)
    finally:
        await nc.close()


async def _print(sub, args: argparse.Namespace) -> int:
    import nats.errors
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    shown = 0
    while args.limit is None or shown < args.limit:
        wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
        if wait <= 0:
            break
        try:
            msg = await sub.next_msg(timeout=wait)
        except nats.errors.TimeoutError:
            continue
        try:
            envelope = orjson.loads(msg.data)
            if not isinstance(envelope, dict):
                raise ValueError("not an object")
        except ValueError:
            print(f"tessera: a message on {msg.subject} is not an event envelope", file=sys.stderr)
            continue
        if not matches(envelope, args):
            continue
        line = orjson.dumps(envelope).decode() if args.json else readable(envelope)
        print(line, flush=True)
        shown += 1
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(tail(args))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
    except CliError as exc:
        print(f"tessera: {exc}", file=sys.stderr)
        return 1


def register(events_subparsers: argparse._SubParsersAction) -> None:
    """Add ``tail`` to ``tessera events``."""
    p = events_subparsers.add_parser("tail", help="follow the event stream (live, or from a time)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--since", type=parse_time, metavar="TIME",
                       help="start at this time (ISO 8601, e.g. 2025-06-01T10:30:00Z); default: new events only")
    start.add_argument("--all", action="store_true", help="start at the beginning of the stream")
    p.add_argument("--tenant", help="only this tenant's events")
    p.add_argument("--application", help="only this application's events")
    p.add_argument("--user", help="only events about this user (subject.user_id)")
    p.add_argument("--client", help="only events about this client (subject.client_id)")
    p.add_argument("--type", dest="types", action="append", metavar="TYPE",
                   help="only this event type, e.g. access_token.issued or signing_key.* (repeatable)")
    p.add_argument("--json", action="store_true", help="print each envelope as one JSON line")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--nats-url", help="default: $TESSERA_NATS_URL")
    p.set_defaults(fn=_cmd_tail)
