-- Userinfo service schema (search_path = userinfo). See docs/userinfo.md.
--
-- Every table here is a read model of another service's events, kept by a durable JetStream
-- consumer (its inbox applies each event once, in the same transaction as the effect). None
-- is a local projection: `python -m services.userinfo replay` rebuilds them from the stream.
-- `version` is the sequence, in its own stream, of the last event applied to a row: an older
-- event arriving late (a redelivery after a failure) never overwrites a newer state.

-- Tenants (tessera.token.*.tenant.>): a disabled tenant's applications serve no userinfo.
CREATE TABLE tenants (
    tenant_id   text        PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    version     integer     NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Applications (tessera.token.*.application.>): the issuer a token must carry, and its tenant.
CREATE TABLE applications (
    application_id  text        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    issuer          text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    version         integer     NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Users' claims (tessera.authn.*.user.>), by tenant: the one query of a userinfo request is
-- this primary key. `claims` holds only the OpenID Connect standard claims (never a password
-- hash or anything else authn's events carry); a deleted user keeps a row without claims, so a
-- late redelivery cannot bring it back.
CREATE TABLE users (
    tenant_id   text        NOT NULL,
    user_id     text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    claims      jsonb       NOT NULL,
    version     integer     NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
