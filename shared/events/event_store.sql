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
-- Created when missing only: re-creating it at each run of this file would lock `events`
-- against the writers of the replicas already serving.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'events'::regclass AND tgname = 'events_append_only') THEN
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION events_append_only();
    END IF;
END $$;

-- Transactional outbox: the positions of the events not yet known to be in JetStream, written
-- in the same transaction as the events. The relay rebuilds subject and envelope from `events`
-- (ADR 0004).
--
-- id, subject and payload are what the outbox held before: unused now and nullable, kept for
-- one release so that pods of the previous release still write during a rolling update
-- (expand now, contract later: docs/deploy.md). The next release drops them.
CREATE TABLE IF NOT EXISTS outbox (
    position  bigint PRIMARY KEY,
    id        uuid,
    subject   text,
    payload   bytea
);
-- A database made before ADR 0004: relax the old NOT NULLs in place; unpublished rows stay
-- (their position is all the relay reads). Checked first, so a re-run takes no lock.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'outbox'
                 AND column_name IN ('id', 'subject', 'payload') AND is_nullable = 'NO') THEN
        ALTER TABLE outbox ALTER COLUMN id DROP NOT NULL, ALTER COLUMN subject DROP NOT NULL,
                           ALTER COLUMN payload DROP NOT NULL;
    END IF;
END $$;

-- Idempotent consumers: one row per (consumer, event) applied, written with the effect.
CREATE TABLE IF NOT EXISTS inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
