-- The sweep of expired refresh-token rows (services/token/refresh_sweep.py) finds them by expiry.
-- New rows expire later than older ones (same lifetime), so this index grows at its right edge.
-- On an existing deployment with many rows the build holds writes to the table for its duration
-- (about a second per million rows): upgrade outside the busiest hour.
CREATE INDEX IF NOT EXISTS refresh_tokens_expires ON refresh_tokens (expires_at);
