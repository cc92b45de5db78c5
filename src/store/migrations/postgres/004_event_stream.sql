-- The live event stream reads the outbox per number and per tenant in an order that never skips a row:
-- by (transaction id, sequence), and only rows of transactions older than every running one.
ALTER TABLE events ADD COLUMN seq BIGSERIAL;
ALTER TABLE events ADD COLUMN txid XID8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_number_stream ON events (number_id, txid, seq);
CREATE INDEX events_tenant_stream ON events (tenant_id, txid, seq);
