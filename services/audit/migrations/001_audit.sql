-- The audit ledger (schema "audit"). Fed by the durable JetStream consumer "audit-ledger";
-- the consumer's inbox (event store tables, migration 000) makes each event count once.

-- Every event of interest, as published. Append-only: UPDATE is refused, and DELETE only
-- inside the retention purge (which sets tessera.audit_purge for its transaction).
CREATE TABLE ledger (
    position     bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    type         text        NOT NULL,
    version      integer     NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    service      text        NOT NULL,
    tenant       text,
    application  text,
    stream       text        NOT NULL,
    sequence     integer     NOT NULL,
    request_id   text,
    actor        text,
    subject      jsonb       NOT NULL,
    client_id    text,       -- copies of subject ids, for the history queries
    user_id      text,
    grant_id     text,
    data         jsonb       NOT NULL
);
CREATE INDEX ledger_tenant_time ON ledger (tenant, occurred_at);
CREATE INDEX ledger_application_time ON ledger (application, occurred_at);
CREATE INDEX ledger_user_time ON ledger (user_id, occurred_at) WHERE user_id IS NOT NULL;
CREATE INDEX ledger_client_time ON ledger (client_id, occurred_at) WHERE client_id IS NOT NULL;
CREATE INDEX ledger_time ON ledger (occurred_at);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tessera.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit ledger is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Access tokens, for who-had. Each event fills its own columns (issued_*, revoked_*), so the
-- rows come out the same in whatever order the events arrive (redeliveries reorder them).
CREATE TABLE tokens (
    jti             text PRIMARY KEY,
    tenant          text,
    application     text,
    client_id       text,
    subject         text,         -- the token's sub
    user_id         text,         -- the sub when it is a user (null: the client acts for itself)
    grant_id        text,
    grant_type      text,
    session_id      text,         -- the sign-in (SSO session) behind the grant; null for client credentials
    scope           text,
    format          text,
    kid             text,
    issued_at       timestamptz,
    expires_at      timestamptz,
    issued_event    uuid,
    revoked_at      timestamptz,
    revoked_reason  text,
    revoked_event   uuid
);
CREATE INDEX tokens_application_validity ON tokens (application, issued_at, expires_at);
CREATE INDEX tokens_kid ON tokens (kid);

-- Signing keys: a revoked key invalidates every token it signed, a retired one does not.
CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    tenant          text,
    application     text,
    alg             text,
    created_at      timestamptz,
    activated_at    timestamptz,
    retired_at      timestamptz,
    replaced_by     text,
    revoked_at      timestamptz,
    revoked_reason  text
);

-- Applications deleted: none of their tokens is valid from then on.
CREATE TABLE applications (
    application  text PRIMARY KEY,
    tenant       text,
    created_at   timestamptz,
    deleted_at   timestamptz
);

-- How long each tenant's ledger rows are kept (days); no row: kept for ever.
CREATE TABLE retention (
    tenant      text PRIMARY KEY,
    days        integer     NOT NULL CHECK (days BETWEEN 1 AND 36500),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
