"""Replay rebuilds the read model and leaves the vault alone; a wrong KEK stops the start."""
import base64
import json
import secrets

from .conftest import KeysProcess


async def _snapshot(keys_db, table):
    return [dict(r) for r in await keys_db.fetch(f"SELECT * FROM {table} ORDER BY kid")]


async def _some_keys(http, keys_service, internal_headers, new_application):
    app, tenant = new_application()
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                         json={"tenant_id": tenant}, headers=internal_headers) as response:
        assert response.status == 200
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys/rotate",
                         headers=internal_headers) as response:
        assert response.status == 200
    return app


async def test_replay_gives_the_same_signing_keys_and_keeps_key_material(
        http, keys_service, keys_db, keys_env, internal_headers, new_application, tmp_path):
    await _some_keys(http, keys_service, internal_headers, new_application)
    keys_before = await _snapshot(keys_db, "signing_keys")
    vault_before = await _snapshot(keys_db, "key_material")
    assert len(keys_before) >= 4 and len(vault_before) == len(keys_before)

    replay = KeysProcess(keys_env, tmp_path / "replay.log", "replay")
    assert replay.wait() == 0, replay.output
    assert '"replay.done"' in replay.output

    assert await _snapshot(keys_db, "signing_keys") == keys_before
    assert await _snapshot(keys_db, "key_material") == vault_before


async def test_service_with_another_kek_over_existing_keys_exits_with_one_clear_line(
        http, keys_service, keys_env, internal_headers, new_application, tmp_path):
    await _some_keys(http, keys_service, internal_headers, new_application)
    wrong = {**keys_env, "TESSERA_KEY_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}
    process = KeysProcess(wrong, tmp_path / "wrong-kek.log")
    code = process.wait(60)
    output = process.output
    assert code == 2, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["level"] in ("error", "critical")]
    assert [e["event"] for e in errors] == ["keys.kek_mismatch"], output
    assert "TESSERA_KEY_ENCRYPTION_KEY" in errors[0]["detail"]
    assert "Traceback" not in output and "service.listening" not in output
    assert all(line.startswith("{") for line in output.splitlines()), output   # nothing unstructured
