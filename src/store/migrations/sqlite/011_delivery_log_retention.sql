-- The sweeper deletes the webhook log past WEBHOOK_LOG_RETENTION_DAYS, oldest first, a batch at a time: attempts
-- by age, and finished deliveries by when they finished. Pending deliveries are never in the second index.
-- IF NOT EXISTS: on a large PostgreSQL log they can be built beforehand with CREATE INDEX CONCURRENTLY (docs/webhooks.md).
CREATE INDEX IF NOT EXISTS delivery_attempts_created ON delivery_attempts (created_at);
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (updated_at) WHERE status <> 'PENDING';
