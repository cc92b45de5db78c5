-- The ring-timeout sweep reads only calls still ringing, oldest first. SQLite could not use calls_active for its
-- `status IN ('INITIATED', 'RINGING')` with ORDER BY started_at and scanned every call ever stored instead.
CREATE INDEX calls_ringing ON calls (started_at) WHERE status IN ('INITIATED', 'RINGING');
-- The periodic purges of expired rows look them up by expiry instead of scanning.
CREATE INDEX tombstones_expiry ON tombstones (expires_at);
CREATE INDEX parked_events_expiry ON parked_events (expires_at);
-- Nothing reads events by (number, creation time) any more (the stream indexes serve per-number reads):
-- one index less to maintain on every event written.
DROP INDEX events_number_created;
-- calls_ringing and calls_accepted serve both sweeps: calls_active has no reader left on SQLite.
DROP INDEX calls_active;
