-- The periodic purges of expired rows look them up by expiry instead of scanning.
-- (PostgreSQL's ring-timeout sweep already uses calls_active; SQLite needs its own index, see sqlite/006.)
CREATE INDEX tombstones_expiry ON tombstones (expires_at);
CREATE INDEX parked_events_expiry ON parked_events (expires_at);
-- Nothing reads events by (number, creation time) any more (the stream indexes serve per-number reads):
-- one index less to maintain on every event written.
DROP INDEX events_number_created;
