-- The event store of one service, created in that service's schema (search_path).
CREATE TABLE IF NOT EXISTS events (
    position     bigserial PRIMARY KEY,
    id           uuid        NOT NULL UNIQUE,
    stream       text        NOT NULL,
    sequence     integer     NOT NULL CHECK (sequence > 0),
    type         text        NOT NULL,
    version      integer     NOT NULL,
    tenant       text,
    application  text,
    request_id   text,
    actor        text,
    occurred_at  timestamptz NOT NULL,
    data         jsonb       NOT NULL,
    CONSTRAINT events_stream_sequence UNIQUE (stream, sequence)
);

-- Append-only: the store refuses updates and deletes of recorded events.
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END $$;
DROP TRIGGER IF EXISTS events_append_only ON events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Transactional outbox: written in the same transaction as the events, relayed to NATS.
CREATE TABLE IF NOT EXISTS outbox (
    position  bigint PRIMARY KEY,
    id        uuid   NOT NULL,
    subject   text   NOT NULL,
    payload   bytea  NOT NULL
);

-- Idempotent consumers: one row per (consumer, event) applied, written with the effect.
CREATE TABLE IF NOT EXISTS inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
