-- Step 4 (the authorization code flow): a client may skip the consent screen; refresh tokens.
ALTER TABLE clients ADD COLUMN skip_consent boolean NOT NULL DEFAULT false;

-- Refresh tokens, by HMAC-SHA-256 of the token under the pepper (never the token itself).
-- Not a read model: no projection owns this table, so a replay leaves it alone (ADR 0001: durable
-- state that is not derived from events); the events carry digests only (docs/oauth.md).
-- A family is every token rotated from one code redemption; a consumed row stays until the family
-- expires so that a reuse is recognised. Each row remembers the access token issued with it, so
-- revoking the family revokes its live access tokens too.
CREATE TABLE refresh_tokens (
    token_hash      text        PRIMARY KEY,
    token_id        text        NOT NULL,
    family_id       text        NOT NULL,
    grant_id        text        NOT NULL,
    tenant_id       text        NOT NULL,
    application_id  text        NOT NULL,
    client_id       text        NOT NULL,
    subject         text        NOT NULL,
    scopes          text[]      NOT NULL,   -- what the grant holds (never widened by a rotation)
    claims          jsonb       NOT NULL,   -- auth_time, acr, amr, sid of the sign-in (ID tokens on refresh)
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    consumed_at     timestamptz,
    revoked_at      timestamptz,
    access_jti      text,                   -- the access token issued with this refresh token
    access_exp      bigint,
    access_hash     text                    -- its HMAC when opaque
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
