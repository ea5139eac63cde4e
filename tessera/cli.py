"""``tessera``: one command line for the whole suite."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_run(args: argparse.Namespace) -> int:
    from .devrun import run
    return run()


def _cmd_gateway(args: argparse.Namespace) -> int:
    import uvloop
    from aiohttp import web

    from .gateway import build_gateway
    uvloop.install()
    web.run_app(build_gateway(json.loads(args.upstreams)), host="127.0.0.1", port=args.port,
                print=None, access_log=None)
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    import importlib
    spec = importlib.import_module(f"services.{args.service}.service").SPEC
    from shared.runtime import main as service_main
    service_main(spec, ["replay"])
    return 0


def _cmd_events_docs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shared.events.docs import render
    path = Path(args.output)
    text = render()
    if args.check:
        if not path.exists() or path.read_text() != text:
            print(f"tessera: {path} is out of date; run `tessera events docs`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera OpenID Provider")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="start the whole suite on this machine")
    p.set_defaults(fn=_cmd_run)
    p = sub.add_parser("gateway", help="the dev gateway (started by `tessera run`)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstreams", required=True, help="JSON map of service name to URL")
    p.set_defaults(fn=_cmd_gateway)
    p = sub.add_parser("replay", help="rebuild a service's read models from its events")
    p.add_argument("service", choices=["authn", "token", "userinfo", "keys"])
    p.set_defaults(fn=_cmd_replay)
    events = sub.add_parser("events", help="the event stream and its documentation")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    p = events_sub.add_parser("docs", help="write docs/events.md from the event registry")
    p.add_argument("--output", default="docs/events.md")
    p.add_argument("--check", action="store_true", help="fail when the file is out of date")
    p.set_defaults(fn=_cmd_events_docs)
    from .events_cli import register as register_events_commands
    register_events_commands(events_sub)
    from .admin_cli import register as register_admin_commands
    register_admin_commands(sub)
    from .audit_cli import register as register_audit_commands
    register_audit_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.fn(args))
