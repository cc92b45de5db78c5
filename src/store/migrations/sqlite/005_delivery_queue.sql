-- Claims whose cost does not grow with the backlog (docs/webhooks.md, "The worker").
-- Waiting deliveries (pending, no lease) per webhook in due order: a claim reads the head of each webhook's queue.
CREATE INDEX deliveries_queue ON deliveries (webhook_id, next_attempt_at) WHERE status = 'PENDING' AND lease_until IS NULL;
-- Leased deliveries only: a claim counts them per webhook without reading the waiting ones.
CREATE INDEX deliveries_leased ON deliveries (webhook_id, lease_until) WHERE status = 'PENDING' AND lease_until IS NOT NULL;
-- Replaced by deliveries_leased: it held every pending row, so counting the in-flight ones read the whole backlog.
DROP INDEX deliveries_in_flight;
