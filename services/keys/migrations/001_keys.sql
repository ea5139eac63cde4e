-- Keys service schema (search_path = keys). See docs/adr/0002-applications-clients-keys.md.

-- Read model of the signing_key.* events (projection "signing_keys"): replay truncates and
-- rebuilds it from the event log.
CREATE TABLE signing_keys (
    kid             text        PRIMARY KEY,           -- RFC 7638 thumbprint
    application_id  text        NOT NULL,
    tenant_id       text        NOT NULL,
    alg             text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('next', 'current', 'retired', 'revoked')),
    public_jwk      jsonb       NOT NULL,
    version         integer     NOT NULL,              -- sequence of signing_key:{kid} it reflects
    created_at      timestamptz NOT NULL,
    activated_at    timestamptz,
    retired_at      timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX signing_keys_by_application ON signing_keys (application_id, status);
-- At most one signing key per application and algorithm, whatever the replicas do.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (application_id, alg) WHERE status = 'current';

-- The vault. NOT a read model: the private keys exist nowhere else, so replay never touches it
-- (and it has no foreign key to signing_keys, which replay truncates). A row is written in the
-- same transaction as its signing_key.created event. AES-256-GCM under the KEK, aad = kid.
CREATE TABLE key_material (
    kid         text        PRIMARY KEY,
    nonce       bytea       NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Applications as the token service announces them (consumer of tessera.token.*.application.*).
-- Built from another service's events, so not a local projection: replay leaves it as it is;
-- the consumer's inbox applies each event once. updated_at orders late redeliveries.
CREATE TABLE applications (
    application_id  text        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'deleted')),
    updated_at      timestamptz NOT NULL
);
