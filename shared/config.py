"""Configuration from ``TESSERA_*`` environment variables, validated at start.

A missing or malformed value raises :class:`ConfigError`, which the process entry point turns
into one line naming the variable and what is wrong, and a non-zero exit: never a traceback.
"""
from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

SERVICES = ("authn", "token", "userinfo", "keys", "audit")
KEK_SERVICES = ("keys", "authn")   # the services that need TESSERA_KEY_ENCRYPTION_KEY
DEFAULT_PORTS = {"token": 8101, "authn": 8102, "userinfo": 8103, "keys": 8104, "audit": 8105}


class ConfigError(Exception):
    """A configuration variable is missing or malformed."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Settings:
    service: str
    database_url: str
    redis_url: str
    nats_url: str
    host: str
    port: int
    public_url: str
    log_format: str
    log_level: str
    secret_pepper: bytes
    key_encryption_key: bytes | None
    internal_token: str
    shutdown_timeout: float
    token_service_url: str
    keys_service_url: str
    refresh_token_retention: float       # token: seconds an expired refresh token's row is kept
    refresh_token_sweep_interval: float  # token: seconds between sweeps of expired rows

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(service={self.service!r}, host={self.host!r}, port={self.port})"


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "")
    if value.strip() == "":
        if default is None:
            raise ConfigError(name, "is required but not set")
        return default
    return value.strip()


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], default: str | None = None) -> str:
    value = _get(env, name, default)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(name, f"is not a valid URL ({exc})") from None
    if parts.scheme not in schemes:
        raise ConfigError(name, f"must be a URL with scheme {' or '.join(schemes)}, got {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ConfigError(name, "must name a host")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _get(env, name, default).lower()
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def decode_key(name: str, raw: str, length: int = 32) -> bytes:
    """Decode a base64 (standard or URL-safe) or hex key of exactly ``length`` bytes."""
    candidates = []
    if len(raw) == 2 * length:
        try:
            candidates.append(bytes.fromhex(raw))
        except ValueError:
            pass
    padded = raw + "=" * (-len(raw) % 4)
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            candidates.append(decoder(padded.encode()))
        except (binascii.Error, ValueError):
            pass
    for key in candidates:
        if len(key) == length:
            return key
    raise ConfigError(name, f"must be {length} random bytes, base64 or hex encoded")


def load_settings(service: str, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting a service needs."""
    env = os.environ if env is None else env
    if service not in SERVICES:
        raise ConfigError("service", f"unknown service {service!r}")
    pepper = _get(env, "TESSERA_SECRET_PEPPER")
    kek_raw = env.get("TESSERA_KEY_ENCRYPTION_KEY", "").strip()
    # keys seals private signing keys with it; authn seals password hashes (shared/sealing.py).
    if service in KEK_SERVICES and not kek_raw:
        raise ConfigError("TESSERA_KEY_ENCRYPTION_KEY", f"is required by the {service} service but not set")
    public_url = _url(env, "TESSERA_PUBLIC_URL", ("http", "https"), "http://127.0.0.1:8080").rstrip("/")
    internal_token = _get(env, "TESSERA_INTERNAL_TOKEN")
    if len(internal_token) < 32:
        raise ConfigError("TESSERA_INTERNAL_TOKEN", "must be at least 32 characters")
    return Settings(
        service=service,
        database_url=_url(env, "TESSERA_DATABASE_URL", ("postgresql", "postgres")),
        redis_url=_url(env, "TESSERA_REDIS_URL", ("redis", "rediss", "unix")),
        nats_url=_url(env, "TESSERA_NATS_URL", ("nats", "tls")),
        host=_get(env, "TESSERA_HOST", "127.0.0.1"),
        port=_int(env, "TESSERA_PORT", DEFAULT_PORTS[service], 0, 65535),
        public_url=public_url,
        log_format=_choice(env, "TESSERA_LOG_FORMAT", "auto", ("auto", "json", "console")),
        log_level=_choice(env, "TESSERA_LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
        secret_pepper=decode_key("TESSERA_SECRET_PEPPER", pepper),
        key_encryption_key=decode_key("TESSERA_KEY_ENCRYPTION_KEY", kek_raw) if kek_raw else None,
        internal_token=internal_token,
        shutdown_timeout=_float(env, "TESSERA_SHUTDOWN_TIMEOUT", 10.0, 0.0, 300.0),
        token_service_url=_url(env, "TESSERA_TOKEN_SERVICE_URL", ("http", "https"),
                               f"http://127.0.0.1:{DEFAULT_PORTS['token']}").rstrip("/"),
        keys_service_url=_url(env, "TESSERA_KEYS_SERVICE_URL", ("http", "https"),
                              f"http://127.0.0.1:{DEFAULT_PORTS['keys']}").rstrip("/"),
        refresh_token_retention=_float(env, "TESSERA_REFRESH_TOKEN_RETENTION", 86_400.0, 0.0, 31_536_000.0),
        refresh_token_sweep_interval=_float(env, "TESSERA_REFRESH_TOKEN_SWEEP_INTERVAL", 600.0, 1.0, 86_400.0),
    )
