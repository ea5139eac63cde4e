"""OAuth 2.0 protocol logic of the token service, one module per job, plain data in and out.

``errors`` (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1) · ``params`` (form parameters) ·
``client_auth`` (RFC 6749 §2.3.1) · ``scopes`` (§3.3) · ``client_credentials`` (§4.4) ·
``access_token`` (RFC 9068, §5.1, RFC 7662 §2.2) · ``discovery`` (RFC 8414, OIDC Discovery) ·
``authorize`` (§4.1.1, OIDC Core §3.1.2) · ``authorization_result`` (ADR 0005's sign-in result) ·
``authorization_response`` (§4.1.2, RFC 9207, Form Post) · ``pkce`` (RFC 7636) ·
``authorization_code`` (§4.1.3) · ``refresh_token`` (§6, RFC 9700 §4.14) · ``id_token`` (OIDC Core
§2) · ``user_grant`` (what a user's grant holds, and when a refresh token is issued).

Nothing here imports aiohttp, asyncpg, redis or nats: the HTTP handlers parse the request,
call these functions, and write what they return.
"""
