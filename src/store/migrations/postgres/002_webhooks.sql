-- Outbound webhooks (docs/spec/webhooks.md): registrations, one delivery per (webhook, event), one attempt row per HTTP try.
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  number_id TEXT NOT NULL REFERENCES numbers(id) ON DELETE CASCADE,
  name TEXT,
  url TEXT NOT NULL,
  -- JSON array of event names or "*".
  events TEXT NOT NULL,
  -- 0/1 on both engines.
  active INTEGER NOT NULL DEFAULT 1,
  -- Signing secrets, AES-256-GCM with SECRET_KEY; the previous one is still used until its expiry (rotation).
  secret TEXT NOT NULL,
  previous_secret TEXT,
  previous_secret_expires_at TIMESTAMPTZ,
  -- Why the service turned it off (410 Gone), cleared when the customer turns it on again.
  disabled_reason TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_number ON webhooks (number_id, created_at);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at);

CREATE TABLE deliveries (
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  event_type TEXT NOT NULL,
  call_id TEXT,
  sequence INTEGER,
  -- PENDING | SUCCESS | FAILED
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ NOT NULL,
  -- A worker owns the delivery while lease_until is in the future; lease_token says which claim.
  lease_until TIMESTAMPTZ,
  lease_token TEXT,
  last_status_code INTEGER,
  last_error TEXT,
  delivered_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX deliveries_call ON deliveries (webhook_id, call_id, sequence) WHERE status = 'PENDING';
CREATE INDEX deliveries_in_flight ON deliveries (webhook_id, lease_until) WHERE status = 'PENDING';

CREATE TABLE delivery_attempts (
  id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  -- SUCCESS | FAILED
  status TEXT NOT NULL,
  status_code INTEGER,
  duration_ms INTEGER NOT NULL,
  error TEXT,
  response_body TEXT,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX delivery_attempts_webhook ON delivery_attempts (webhook_id, created_at DESC, id DESC);
