-- Read models of the registry: tenants, applications, clients (built by services/token/projections.py).
-- Rows of deleted aggregates stay, with status 'deleted', so their ids (and custom issuers) are
-- never reused; lookups for the token endpoint skip them.
CREATE TABLE tenants (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE applications (
    id          text        PRIMARY KEY,
    tenant_id   text        NOT NULL REFERENCES tenants (id),
    name        text        NOT NULL,
    issuer      text        NOT NULL CONSTRAINT applications_issuer_key UNIQUE,
    status      text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    settings    jsonb       NOT NULL,
    scopes      text[]      NOT NULL,
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX applications_tenant ON applications (tenant_id, id);

CREATE TABLE clients (
    application_id              text        NOT NULL REFERENCES applications (id),
    client_id                   text        NOT NULL,
    tenant_id                   text        NOT NULL REFERENCES tenants (id),
    name                        text        NOT NULL,
    status                      text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    token_endpoint_auth_method  text        NOT NULL,
    grant_types                 text[]      NOT NULL,
    redirect_uris               text[]      NOT NULL,
    scopes                      text[]      NOT NULL,
    access_token_format         text,
    -- [{"hash": hex HMAC-SHA-256 under the pepper, "expires_at": ISO-8601 or null}], newest first
    secret_hashes               jsonb       NOT NULL DEFAULT '[]',
    version                     integer     NOT NULL,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    CONSTRAINT clients_pkey PRIMARY KEY (application_id, client_id)
);
