"""A bad configuration stops a service with one clear line, never a traceback."""
import subprocess
import sys

import pytest

from shared.config import ConfigError, load_settings

GOOD = {
    "TESSERA_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/tessera",
    "TESSERA_REDIS_URL": "redis://127.0.0.1:6379/0",
    "TESSERA_NATS_URL": "nats://127.0.0.1:4222",
    "TESSERA_SECRET_PEPPER": "A" * 43 + "=",
    "TESSERA_KEY_ENCRYPTION_KEY": "ab" * 32,
    "TESSERA_INTERNAL_TOKEN": "x" * 40,
}


def test_good_configuration_loads():
    settings = load_settings("keys", GOOD)
    assert settings.port == 8104 and len(settings.key_encryption_key) == 32
    assert "pepper" not in repr(settings).lower()


@pytest.mark.parametrize("variable, value, problem", [
    ("TESSERA_DATABASE_URL", "", "is required"),
    ("TESSERA_DATABASE_URL", "mysql://x/y", "scheme"),
    ("TESSERA_REDIS_URL", "redis://host:notaport", "not a valid URL"),
    ("TESSERA_PORT", "eighty", "must be an integer"),
    ("TESSERA_PORT", "70000", "between"),
    ("TESSERA_SECRET_PEPPER", "short", "32 random bytes"),
    ("TESSERA_KEY_ENCRYPTION_KEY", "", "required by the keys service"),
    ("TESSERA_LOG_FORMAT", "xml", "must be one of"),
    ("TESSERA_INTERNAL_TOKEN", "tooshort", "at least 32"),
])
def test_bad_value_names_the_variable_and_the_problem(variable, value, problem):
    with pytest.raises(ConfigError) as info:
        load_settings("keys", {**GOOD, variable: value})
    assert info.value.variable == variable
    assert problem in info.value.problem


@pytest.mark.parametrize("service", ["keys", "authn"])
def test_services_that_seal_secrets_require_the_key_encryption_key(service):
    with pytest.raises(ConfigError) as info:
        load_settings(service, {**GOOD, "TESSERA_KEY_ENCRYPTION_KEY": ""})
    assert info.value.variable == "TESSERA_KEY_ENCRYPTION_KEY"
    assert info.value.problem == f"is required by the {service} service but not set"
    assert load_settings("token", {**GOOD, "TESSERA_KEY_ENCRYPTION_KEY": ""}).key_encryption_key is None


@pytest.mark.parametrize("service", ["token", "keys", "authn", "userinfo"])
def test_service_with_bad_value_prints_one_line_and_exits_nonzero(service):
    env = {**GOOD, "TESSERA_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", f"services.{service}"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"tessera-{service}: configuration error: TESSERA_PORT: must be an integer, got 'not-a-port'"]
    assert "Traceback" not in proc.stdout + proc.stderr
