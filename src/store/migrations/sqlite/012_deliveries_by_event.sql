-- Deleting a number deletes its events, and each cascades to its deliveries (deliveries.event_id ON DELETE CASCADE),
-- whose primary key starts with webhook_id: without this index every deleted event scanned all deliveries.
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries (event_id);
