"""OAuth 2.0 protocol logic of the token service, one module per job, plain data in and out.

``errors`` (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1) · ``params`` (form parameters) ·
``client_auth`` (RFC 6749 §2.3.1) · ``scopes`` (§3.3) · ``client_credentials`` (§4.4) ·
``access_token`` (RFC 9068, §5.1, RFC 7662 §2.2) · ``discovery`` (RFC 8414, OIDC Discovery).

Nothing here imports aiohttp, asyncpg, redis or nats: the HTTP handlers parse the request,
call these functions, and write what they return.
"""
