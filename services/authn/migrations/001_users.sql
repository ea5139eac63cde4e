-- The authn service's schema (search_path = authn). See docs/authn.md.

-- Read model of the user.* events (projection "authn-users"): replay truncates and rebuilds it.
-- Rows of deleted users stay (status 'deleted') so their ids are never reused; their username
-- and email are free again (the unique indexes skip deleted rows).
CREATE TABLE users (
    id                      text        PRIMARY KEY,
    tenant_id               text        NOT NULL,
    username                text        NOT NULL,
    email                   text,
    phone_number            text,
    status                  text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    -- every OIDC claim but email and phone_number (and updated_at): {"name": …, "address": {…}, …}
    claims                  jsonb       NOT NULL,
    -- the argon2id PHC string sealed with AES-256-GCM under the KEK, aad = id; null: no password
    password_nonce          bytea       CHECK (password_nonce IS NULL OR length(password_nonce) = 12),
    password_ciphertext     bytea,
    claims_updated_at       bigint      NOT NULL,          -- the OIDC updated_at claim (epoch s)
    version                 integer     NOT NULL,          -- sequence of user:{tenant}:{id} it reflects
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    last_sign_in_at         timestamptz
);
CREATE UNIQUE INDEX users_username_key ON users (tenant_id, lower(username)) WHERE status <> 'deleted';
CREATE UNIQUE INDEX users_email_key ON users (tenant_id, lower(email)) WHERE email IS NOT NULL AND status <> 'deleted';
CREATE INDEX users_by_tenant ON users (tenant_id, id);

-- Read model of the consent.* events (same projection): the scopes a user allowed a client.
CREATE TABLE consents (
    tenant_id       text        NOT NULL,
    user_id         text        NOT NULL,
    application_id  text        NOT NULL,
    client_id       text        NOT NULL,
    scopes          text[]      NOT NULL,
    version         integer     NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id, application_id, client_id)
);

-- Tenants as the token service announces them (consumer of tessera.token.*.tenant.*). Built from
-- another service's events, so not a local projection: replay leaves it alone; the consumer's
-- inbox applies each event once, and updated_at keeps a late redelivery from undoing a newer one.
CREATE TABLE tenants (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    updated_at  timestamptz NOT NULL
);
