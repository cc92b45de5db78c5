-- The live event stream reads the outbox in insertion order (rowid) per number and per tenant.
CREATE INDEX events_number_stream ON events (number_id);
CREATE INDEX events_tenant_stream ON events (tenant_id);
