"""``tessera bootstrap`` and ``tessera tenants|applications|clients ...``: the admin API from a shell.

Standard library only (``urllib``), so the command starts fast.

- ``tessera bootstrap`` calls the token service's internal bootstrap
  (``$TESSERA_TOKEN_SERVICE_URL``, ``$TESSERA_INTERNAL_TOKEN`` or ``.tessera/secrets.json``) and
  prints the first admin client's credentials, once.
- The other commands get an admin access token by client credentials (client_secret_basic,
  scope ``tessera:admin``) at ``{TESSERA_URL}/system/token`` with ``TESSERA_ADMIN_CLIENT_ID`` /
  ``TESSERA_ADMIN_CLIENT_SECRET`` (or ``.tessera/dev.json``'s ``admin_client_id`` /
  ``admin_client_secret``), then call ``{TESSERA_URL}/admin/...``.

Output is an aligned table (or ``key  value`` lines) by default, the raw JSON with ``--json``.
Any error prints one line, ``tessera: <description>``, and exits 1.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Sequence

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TOKEN_SERVICE_URL = "http://127.0.0.1:8101"
STATE_DIR = Path(".tessera")
ADMIN_SCOPE = "tessera:admin"
TIMEOUT_S = 30
SECRET_WARNING = "Save the client secret now: it will not be shown again."


class CliError(Exception):
    """One line for the user; the command exits 1."""


# HTTP ------------------------------------------------------------------------------------------
def _request(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
             ) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as exc:
        raise CliError(_describe_error(exc)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"cannot reach {_origin(url)}: {reason}") from None
    except ValueError:
        raise CliError(f"{_origin(url)} answered something that is not JSON") from None


def _describe_error(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read() or b"{}")
    except ValueError:
        payload = {}
    if isinstance(payload, dict) and (payload.get("error_description") or payload.get("error")):
        return str(payload.get("error_description") or payload.get("error"))
    return f"HTTP {exc.code} {exc.reason} from {_origin(exc.url or '')}"


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class AdminClient:
    """The admin API at ``{base_url}/admin``, with a token got once by client credentials."""

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self._token: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "AdminClient":
        env = dict(os.environ if env is None else env)
        dev = _read_json_file(STATE_DIR / "dev.json")
        client_id = env.get("TESSERA_ADMIN_CLIENT_ID") or dev.get("admin_client_id")
        client_secret = env.get("TESSERA_ADMIN_CLIENT_SECRET") or dev.get("admin_client_secret")
        if not client_id or not client_secret:
            raise CliError("no admin credentials: set TESSERA_ADMIN_CLIENT_ID and TESSERA_ADMIN_CLIENT_SECRET "
                           "(`tessera bootstrap` prints them)")
        return cls(env.get("TESSERA_URL") or DEFAULT_URL, client_id, client_secret)

    def token(self) -> str:
        if self._token is None:
            # RFC 6749 §2.3.1: form-encode the id and secret before base64.
            pair = f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self.client_secret, safe='')}"
            body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": ADMIN_SCOPE}).encode()
            try:
                _status, payload = _request("POST", f"{self.base_url}/system/token", body=body, headers={
                    "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                    "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
            except CliError as exc:
                raise CliError(f"cannot get an admin token: {exc}") from None
            if not isinstance(payload, dict) or not payload.get("access_token"):
                raise CliError("cannot get an admin token: the token endpoint answered no access_token")
            self._token = str(payload["access_token"])
        return self._token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}/admin/{path}"
        query = {k: v for k, v in (query or {}).items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return _request(method, url, headers=headers, body=data)[1]


def _path(*segments: str) -> str:
    return "/".join(urllib.parse.quote(s, safe="") for s in segments)


# Output ----------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) if value else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """An aligned table: ``columns`` are (heading, key) pairs."""
    cells = [[heading for heading, _ in columns]] + [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def _flatten(obj: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in obj.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        elif key == "secrets" and isinstance(value, list):
            out.append((f"{prefix}{key}", [f"{s.get('digest', '')[:12]}… "
                                           f"({'current' if s.get('expires_at') is None else 'until ' + s['expires_at']})"
                                           for s in value]))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def details(obj: dict[str, Any]) -> str:
    """``key  value`` lines, nested objects flattened (``settings.code_ttl``)."""
    pairs = _flatten(obj)
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in pairs)


TENANT_COLUMNS = [("ID", "id"), ("NAME", "name"), ("STATUS", "status")]
APPLICATION_COLUMNS = [("ID", "id"), ("TENANT", "tenant_id"), ("NAME", "name"), ("STATUS", "status"),
                       ("ISSUER", "issuer")]
CLIENT_COLUMNS = [("CLIENT ID", "client_id"), ("NAME", "name"), ("STATUS", "status"),
                  ("AUTH", "token_endpoint_auth_method"), ("GRANTS", "grant_types"), ("SCOPES", "scopes")]


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _show(args: argparse.Namespace, obj: dict[str, Any]) -> None:
    if args.json:
        _print_json(obj)
        return
    shown = {k: v for k, v in obj.items() if k not in ("client_secret", "default_client")}
    default_client = obj.get("default_client")
    secret = obj.get("client_secret")
    if isinstance(default_client, dict):
        shown["default_client"] = {"client_id": default_client.get("client_id")}
        secret = default_client.get("client_secret")
        if secret:
            shown["default_client"]["client_secret"] = secret
    elif secret:
        shown["client_secret"] = secret
    print(details(shown))
    if secret:
        print(SECRET_WARNING, file=sys.stderr)


def _list(args: argparse.Namespace, client: AdminClient, path: str, columns, query: dict[str, Any] | None = None
          ) -> None:
    """One page with ``--limit``; otherwise every page."""
    query = dict(query or {})
    items: list[dict[str, Any]] = []
    after = args.after
    while True:
        page = client.call("GET", path, query={**query, "limit": args.limit or 200, "after": after})
        items += page["items"]
        after = page.get("next")
        if args.limit or not after:
            break
    if args.json:
        _print_json({"items": items, "next": after if args.limit else None})
        return
    print(table(items, columns) if items else "(none)")
    if args.limit and after:
        print(f"(more: --after {after})", file=sys.stderr)


def _done(args: argparse.Namespace, what: str) -> None:
    if not args.json:
        print(f"deleted {what}")


# Commands --------------------------------------------------------------------------------------
def _settings(args: argparse.Namespace) -> dict[str, Any]:
    names = ["access_token_format", "access_token_alg", "signing_algs", "access_token_ttl", "id_token_ttl",
             "refresh_token_ttl", "code_ttl"]
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _some(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def cmd_bootstrap(args: argparse.Namespace) -> None:
    url = (os.environ.get("TESSERA_TOKEN_SERVICE_URL") or DEFAULT_TOKEN_SERVICE_URL).rstrip("/")
    token = os.environ.get("TESSERA_INTERNAL_TOKEN") or _read_json_file(STATE_DIR / "secrets.json").get(
        "TESSERA_INTERNAL_TOKEN")
    if not token:
        raise CliError("TESSERA_INTERNAL_TOKEN is not set (and there is no .tessera/secrets.json)")
    body = json.dumps({"new_client": True} if args.new_client else {}).encode()
    try:
        _status, creds = _request("POST", f"{url}/internal/bootstrap", body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    except CliError as exc:
        if "already bootstrapped" in str(exc):
            raise CliError("already bootstrapped: an admin client exists "
                           "(`tessera bootstrap --new-client` makes another)") from None
        raise
    if args.json:
        _print_json(creds)
    else:
        print(f"issuer          {creds['issuer']}")
        print(f"token endpoint  {creds.get('token_endpoint', creds['issuer'] + '/token')}")
        print(f"export TESSERA_ADMIN_CLIENT_ID={creds['client_id']}")
        print(f"export TESSERA_ADMIN_CLIENT_SECRET={creds['client_secret']}")
    print(f"Admin client created. {SECRET_WARNING}", file=sys.stderr)


def tenants(args: argparse.Namespace, api: AdminClient) -> None:
    action, tid = args.action, getattr(args, "id", None)
    if action == "list":
        return _list(args, api, "tenants", TENANT_COLUMNS)
    if action == "create":
        return _show(args, api.call("POST", "tenants", {"id": tid, "name": args.name or tid}))
    if action == "show":
        return _show(args, api.call("GET", _path("tenants", tid)))
    if action == "update":
        return _show(args, api.call("PATCH", _path("tenants", tid), _some(name=args.name)))
    if action in ("disable", "enable"):
        return _show(args, api.call("POST", _path("tenants", tid, action)))
    api.call("DELETE", _path("tenants", tid))
    _done(args, f"tenant {tid}")


def applications(args: argparse.Namespace, api: AdminClient) -> None:
    action, aid = args.action, getattr(args, "id", None)
    scope = {"tenant": getattr(args, "tenant", None)}
    if action == "list":
        return _list(args, api, _path("tenants", args.tenant, "applications"), APPLICATION_COLUMNS)
    if action == "create":
        body = _some(id=aid, name=args.name or aid, issuer=args.issuer, scopes=args.scopes,
                     grant_types=args.grant_types, redirect_uris=args.redirect_uris, settings=_settings(args) or None)
        return _show(args, api.call("POST", _path("tenants", args.tenant, "applications"), body))
    if action == "show":
        return _show(args, api.call("GET", _path("applications", aid), query=scope))
    if action == "update":
        body = _some(name=args.name, issuer=args.issuer, scopes=args.scopes, settings=_settings(args) or None)
        if args.default_issuer:
            body["issuer"] = None
        return _show(args, api.call("PATCH", _path("applications", aid), body, query=scope))
    if action in ("disable", "enable"):
        return _show(args, api.call("POST", _path("applications", aid, action), query=scope))
    api.call("DELETE", _path("applications", aid), query=scope)
    _done(args, f"application {aid} and its clients")


def clients(args: argparse.Namespace, api: AdminClient) -> None:
    action, app = args.action, args.application
    scope = {"tenant": args.tenant}
    base = _path("applications", app, "clients")
    if action == "list":
        return _list(args, api, base, CLIENT_COLUMNS, query=scope)
    if action == "create":
        body = _some(name=args.name, token_endpoint_auth_method=args.auth_method, grant_types=args.grant_types,
                     redirect_uris=args.redirect_uris, scopes=args.scopes, access_token_format=args.access_token_format)
        return _show(args, api.call("POST", base, body, query=scope))
    path = f"{base}/{_path(args.client)}"
    if action == "show":
        return _show(args, api.call("GET", path, query=scope))
    if action == "update":
        body = _some(name=args.name, token_endpoint_auth_method=args.auth_method, grant_types=args.grant_types,
                     redirect_uris=args.redirect_uris, scopes=args.scopes)
        if args.no_redirect_uris:
            body["redirect_uris"] = []
        if args.access_token_format is not None:
            body["access_token_format"] = None if args.access_token_format == "default" else args.access_token_format
        return _show(args, api.call("PATCH", path, body, query=scope))
    if action == "rotate-secret":
        return _show(args, api.call("POST", f"{path}/rotate-secret", {"grace_seconds": args.grace}, query=scope))
    if action in ("disable", "enable"):
        return _show(args, api.call("POST", f"{path}/{action}", query=scope))
    api.call("DELETE", path, query=scope)
    _done(args, f"client {args.client}")


# Parsers ---------------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--json", action="store_true", help="print the raw JSON answer")
    return p


def _paging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, help="one page of at most this many (default: every page)")
    p.add_argument("--after", help="start after this id (the cursor a previous page printed)")


def _settings_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--access-token-format", dest="access_token_format", choices=["jwt", "opaque"])
    p.add_argument("--access-token-alg", dest="access_token_alg", choices=["RS256", "ES256", "EdDSA"])
    p.add_argument("--signing-alg", dest="signing_algs", action="append", choices=["RS256", "ES256", "EdDSA"],
                   help="repeat for each algorithm (replaces the list)")
    for name in ("access_token_ttl", "id_token_ttl", "refresh_token_ttl", "code_ttl"):
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=int, metavar="SECONDS")


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--auth-method", dest="auth_method",
                   choices=["client_secret_basic", "client_secret_post", "none"])
    p.add_argument("--grant-type", dest="grant_types", action="append",
                   choices=["client_credentials", "authorization_code", "refresh_token"], help="repeatable")
    p.add_argument("--redirect-uri", dest="redirect_uris", action="append", help="repeatable")
    p.add_argument("--scope", dest="scopes", action="append", help="repeatable")


def _admin(fn: Callable[[argparse.Namespace, AdminClient], None]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return _guard(lambda: fn(args, AdminClient.from_env()))
    return run


def _guard(fn: Callable[[], None]) -> int:
    try:
        fn()
    except CliError as exc:
        print(f"tessera: {exc}", file=sys.stderr)
        return 1
    return 0


def _lifecycle(sub, kind: str, add_ids: Callable[[argparse.ArgumentParser], None]) -> None:
    for action, text in (("show", "show a {}"), ("disable", "disable a {} (idempotent)"),
                         ("enable", "enable a {} (idempotent)"), ("delete", "delete a {} (its id is never reused)")):
        p = _common(sub.add_parser(action, help=text.format(kind)))
        add_ids(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bootstrap``, ``tenants``, ``applications`` and ``clients`` to the ``tessera`` CLI."""
    p = _common(subparsers.add_parser("bootstrap", help="create the first admin client (prints its secret once)"))
    p.add_argument("--new-client", action="store_true", help="make another admin client after the first")
    p.set_defaults(fn=lambda args: _guard(lambda: cmd_bootstrap(args)))

    # tenants
    group = subparsers.add_parser("tenants", help="manage tenants")
    group.set_defaults(fn=_admin(tenants))
    sub = group.add_subparsers(dest="action", required=True)
    _paging(_common(sub.add_parser("list", help="list tenants")))
    p = _common(sub.add_parser("create", help="create a tenant"))
    p.add_argument("id")
    p.add_argument("--name", help="display name (default: the id)")
    p = _common(sub.add_parser("update", help="change a tenant"))
    p.add_argument("id")
    p.add_argument("--name")
    _lifecycle(sub, "tenant", lambda q: q.add_argument("id"))

    # applications
    group = subparsers.add_parser("applications", help="manage applications (authorization servers)")
    group.set_defaults(fn=_admin(applications))
    sub = group.add_subparsers(dest="action", required=True)
    p = _common(sub.add_parser("list", help="list a tenant's applications"))
    p.add_argument("--tenant", required=True)
    _paging(p)
    p = _common(sub.add_parser("create", help="create an application and its default client"))
    p.add_argument("id")
    p.add_argument("--tenant", required=True)
    p.add_argument("--name", help="display name (default: the id)")
    p.add_argument("--issuer", help="custom issuer URL (default: {TESSERA_URL}/{id})")
    p.add_argument("--scope", dest="scopes", action="append", help="a scope the application offers (repeatable)")
    p.add_argument("--grant-type", dest="grant_types", action="append",
                   choices=["client_credentials", "authorization_code", "refresh_token"],
                   help="the default client's grant types (repeatable)")
    p.add_argument("--redirect-uri", dest="redirect_uris", action="append", help="the default client's (repeatable)")
    _settings_options(p)
    p = _common(sub.add_parser("update", help="change an application"))
    p.add_argument("id")
    p.add_argument("--tenant", help="only if the application belongs to this tenant")
    p.add_argument("--name")
    issuer = p.add_mutually_exclusive_group()
    issuer.add_argument("--issuer")
    issuer.add_argument("--default-issuer", action="store_true", help="go back to {TESSERA_URL}/{id}")
    p.add_argument("--scope", dest="scopes", action="append", help="replaces the offered scopes (repeatable)")
    _settings_options(p)

    def app_ids(q: argparse.ArgumentParser) -> None:
        q.add_argument("id")
        q.add_argument("--tenant", help="only if the application belongs to this tenant")
    _lifecycle(sub, "application", app_ids)

    # clients
    group = subparsers.add_parser("clients", help="manage an application's clients")
    group.set_defaults(fn=_admin(clients))
    sub = group.add_subparsers(dest="action", required=True)

    def client_ids(q: argparse.ArgumentParser, with_client: bool = True) -> None:
        q.add_argument("application")
        if with_client:
            q.add_argument("client")
        q.add_argument("--tenant", help="only if the application belongs to this tenant")

    p = _common(sub.add_parser("list", help="list an application's clients"))
    client_ids(p, with_client=False)
    _paging(p)
    p = _common(sub.add_parser("create", help="register a client (prints its secret once)"))
    client_ids(p, with_client=False)
    p.add_argument("--name", required=True)
    _client_options(p)
    p.add_argument("--access-token-format", dest="access_token_format", choices=["jwt", "opaque"])
    p = _common(sub.add_parser("update", help="change a client"))
    client_ids(p)
    p.add_argument("--name")
    _client_options(p)
    p.add_argument("--no-redirect-uris", action="store_true", help="remove every redirect URI")
    p.add_argument("--access-token-format", dest="access_token_format", choices=["jwt", "opaque", "default"],
                   help="'default' follows the application")
    p = _common(sub.add_parser("rotate-secret", help="give a client a new secret (prints it once)"))
    client_ids(p)
    p.add_argument("--grace", type=int, default=0, metavar="SECONDS",
                   help="keep the earlier secrets valid this long (default 0: revoked at once; max 30 days)")
    _lifecycle(sub, "client", client_ids)
