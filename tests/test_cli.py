"""The admin commands of the ``tessera`` CLI."""
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.token import internal
from shared.crypto import matches
from tessera.admin_cli import details, table
from tessera.cli import build_parser
from tests.support.fixtures import client_credentials

from .token.registry_fixtures import registry, token_schema, token_settings  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}


async def tessera(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[int, str, str]:
    """Run ``python -m tessera *args`` without blocking the loop (a server may run in it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tessera", *args, cwd=cwd, env={**CLEAN_ENV, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


def test_table_aligns_columns_and_joins_lists():
    text = table([{"id": "acme", "scopes": ["a", "b"]}, {"id": "globex-corp", "scopes": []}],
                 [("ID", "id"), ("SCOPES", "scopes")])
    assert text.splitlines() == ["ID           SCOPES", "acme         a, b", "globex-corp  -"]


def test_details_flattens_settings_and_hides_secret_digests_behind_a_prefix():
    text = details({"id": "billing", "settings": {"code_ttl": 60},
                    "secrets": [{"digest": "f" * 64, "expires_at": None}]})
    assert text.splitlines() == ["id                 billing", "settings.code_ttl  60",
                                 "secrets            ffffffffffff… (current)"]


def test_parser_knows_every_admin_command():
    parser = build_parser()
    for argv in (["bootstrap"], ["tenants", "list"], ["tenants", "create", "acme", "--name", "Acme"],
                 ["tenants", "update", "acme", "--name", "A"], ["tenants", "delete", "acme"],
                 ["applications", "create", "billing", "--tenant", "acme", "--scope", "openid",
                  "--access-token-ttl", "600"],
                 ["applications", "update", "billing", "--default-issuer"], ["applications", "disable", "billing"],
                 ["clients", "create", "billing", "--name", "x", "--grant-type", "client_credentials"],
                 ["clients", "rotate-secret", "billing", "billing", "--grace", "60"],
                 ["clients", "enable", "billing", "abc", "--json"]):
        assert callable(parser.parse_args(argv).fn), argv


async def test_a_command_without_admin_credentials_prints_one_line_and_exits_1(tmp_path):
    code, out, err = await tessera("tenants", "list", cwd=tmp_path)
    assert code == 1 and out == ""
    assert err.startswith("tessera: no admin credentials") and err.count("\n") == 1


async def test_credentials_fall_back_to_the_dev_state_file(tmp_path):
    (tmp_path / ".tessera").mkdir()
    (tmp_path / ".tessera" / "dev.json").write_text(json.dumps({"admin_client_id": "system",
                                                                 "admin_client_secret": "s3cret"}))
    code, _out, err = await tessera("tenants", "list", cwd=tmp_path, env={"TESSERA_URL": "http://127.0.0.1:9"})
    assert code == 1
    assert err.startswith("tessera: cannot get an admin token: cannot reach http://127.0.0.1:9")
    assert "s3cret" not in err


async def test_bootstrap_without_an_internal_token_prints_one_line(tmp_path):
    code, _out, err = await tessera("bootstrap", cwd=tmp_path)
    assert code == 1 and err.startswith("tessera: TESSERA_INTERNAL_TOKEN is not set")


@pytest.fixture
async def token_internal(registry):
    app = web.Application()
    internal.add_routes(app, registry)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_bootstrap_prints_the_credentials_once_with_a_warning(token_internal, registry, tmp_path):
    env = {"TESSERA_TOKEN_SERVICE_URL": token_internal, "TESSERA_INTERNAL_TOKEN": registry.settings.internal_token}
    code, out, err = await tessera("bootstrap", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "will not be shown again" in err
    lines = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("export "))
    client_id, secret = lines["export TESSERA_ADMIN_CLIENT_ID"], lines["export TESSERA_ADMIN_CLIENT_SECRET"]
    client = await registry.client("system", client_id)
    assert matches(registry.settings.secret_pepper, secret, client.secret_hashes[0].hash)

    code, out, err = await tessera("bootstrap", env=env, cwd=tmp_path)
    assert code == 1 and out == ""
    assert err == "tessera: already bootstrapped: an admin client exists (`tessera bootstrap --new-client` " \
                  "makes another)\n"

    code, out, _err = await tessera("bootstrap", "--new-client", "--json", env=env, cwd=tmp_path)
    assert code == 0
    second = json.loads(out)
    assert second["client_id"] != client_id and second["issuer"] == "https://id.example.com/system"


async def test_bootstrap_with_a_wrong_internal_token_says_so(token_internal, tmp_path):
    env = {"TESSERA_TOKEN_SERVICE_URL": token_internal, "TESSERA_INTERNAL_TOKEN": "x" * 40}
    code, _out, err = await tessera("bootstrap", env=env, cwd=tmp_path)
    assert code == 1 and err == "tessera: The internal token is required.\n"


# Against a running suite -----------------------------------------------------------------------
@pytest.fixture
def admin_env(suite, admin):
    return {"TESSERA_URL": suite.public_url, "TESSERA_ADMIN_CLIENT_ID": admin.client_id,
            "TESSERA_ADMIN_CLIENT_SECRET": admin.client_secret}


async def test_tenants_applications_and_clients_from_the_command_line(suite, admin_env, tmp_path):
    async def run(*args: str) -> str:
        code, out, err = await tessera(*args, env=admin_env, cwd=tmp_path)
        assert code == 0, err
        return out

    tid, aid = f"cli-{uuid.uuid4().hex[:8]}", f"cli-app-{uuid.uuid4().hex[:8]}"
    assert json.loads(await run("tenants", "create", tid, "--name", "CLI Corp", "--json"))["id"] == tid
    listing = await run("tenants", "list")
    header, *rows = listing.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS"]
    assert any(row.split()[0] == tid and row.rstrip().endswith("active") for row in rows)
    assert "CLI Corp" in await run("tenants", "show", tid)
    assert "CLI Inc" in await run("tenants", "update", tid, "--name", "CLI Inc")

    code, out, err = await tessera("applications", "create", aid, "--tenant", tid, "--scope", "read",
                                   "--access-token-format", "opaque", env=admin_env, cwd=tmp_path)
    assert code == 0, err
    assert "will not be shown again" in err
    secret = next(line.split()[1] for line in out.splitlines() if line.startswith("default_client.client_secret"))
    assert (await client_credentials(suite.public_url, aid, aid, secret)).status_code == 200
    assert f"{suite.public_url}/{aid}" in await run("applications", "list", "--tenant", tid)
    shown = json.loads(await run("applications", "update", aid, "--access-token-ttl", "900", "--json"))
    assert shown["settings"]["access_token_ttl"] == 900 and shown["settings"]["access_token_format"] == "opaque"

    created = json.loads(await run("clients", "create", aid, "--name", "Exporter", "--scope", "read", "--json"))
    cid = created["client_id"]
    assert created["client_secret"]
    assert cid in await run("clients", "list", aid)
    rotated = await run("clients", "rotate-secret", aid, cid, "--grace", "60")
    new_secret = next(line.split()[1] for line in rotated.splitlines() if line.startswith("client_secret"))
    assert (await client_credentials(suite.public_url, aid, cid, new_secret)).status_code == 200
    assert "disabled" in await run("clients", "disable", aid, cid)
    assert "active" in await run("clients", "enable", aid, cid)
    assert (await run("clients", "delete", aid, cid)).strip() == f"deleted client {cid}"
    assert "deleted application" in await run("applications", "delete", aid)
    assert (await run("tenants", "delete", tid)).strip() == f"deleted tenant {tid}"


async def test_an_admin_api_error_prints_its_description_on_one_line(admin_env, tmp_path):
    code, out, err = await tessera("tenants", "show", "no-such-tenant", env=admin_env, cwd=tmp_path)
    assert (code, out, err) == (1, "", "tessera: tenant not found\n")
    code, _out, err = await tessera("applications", "create", "admin", "--tenant", "system", env=admin_env,
                                    cwd=tmp_path)
    assert code == 1 and err == "tessera: application id 'admin' is reserved\n"


async def test_a_wrong_admin_secret_prints_why_no_token_was_given(suite, admin, tmp_path):
    env = {"TESSERA_URL": suite.public_url, "TESSERA_ADMIN_CLIENT_ID": admin.client_id,
           "TESSERA_ADMIN_CLIENT_SECRET": "wrong"}
    code, _out, err = await tessera("tenants", "list", env=env, cwd=tmp_path)
    assert code == 1 and err.startswith("tessera: cannot get an admin token: ") and err.count("\n") == 1
